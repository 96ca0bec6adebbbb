#!/usr/bin/env python3
"""The job Nightshift's `run --only features,infer` does, written the way users write it today.

  pyspark  : PySpark local[2] reads the contacts Parquet files, keeps the window, LEFT JOINs
             trips and orders, predicts with fastText in a pandas_udf, writes Parquet.
  python   : plain Python: pyarrow reads the window of contacts, fastText predicts, pyarrow
             writes Parquet (no join).

Usage: e2e_peers.py pyspark|python WAREHOUSE FASTTEXT_MODEL WINDOW_START WINDOW_END OUT_DIR
Prints one JSON line: {"peer", "rows", "seconds"}.
"""
import json
import os
import sys
import time


def python_job(warehouse, model_path, start, end, out):
    import datetime as dt
    import fasttext
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq
    t0 = time.perf_counter()
    model = fasttext.load_model(model_path)
    contacts = ds.dataset(os.path.join(warehouse, "raw", "support_contacts"), format="parquet", partitioning="hive")
    s = pa.scalar(dt.datetime.fromisoformat(start).replace(tzinfo=dt.timezone.utc), type=pa.timestamp("us", tz="UTC"))
    e = pa.scalar(dt.datetime.fromisoformat(end).replace(tzinfo=dt.timezone.utc), type=pa.timestamp("us", tz="UTC"))
    table = contacts.to_table(columns=["contact_id", "text"], filter=(ds.field("created_at") >= s) & (ds.field("created_at") < e))
    texts = [" ".join((t or "").split()) for t in table.column("text").to_pylist()]
    labels, probs = model.predict(texts)
    out_table = pa.table({
        "id": table.column("contact_id"),
        "subcategory": [l[0].replace("__label__", "") for l in labels],
        "confidence": [float(p[0]) for p in probs],
    })
    os.makedirs(out, exist_ok=True)
    pq.write_table(out_table, os.path.join(out, "part-0.parquet"))
    return out_table.num_rows, time.perf_counter() - t0


def pyspark_job(warehouse, model_path, start, end, out):
    import pandas as pd
    from pyspark.sql import SparkSession, functions as F
    from pyspark.sql.functions import pandas_udf
    t0 = time.perf_counter()
    spark = (SparkSession.builder.master("local[2]").appName("nightshift-peer")
             .config("spark.sql.shuffle.partitions", "4")
             .config("spark.driver.memory", "6g")
             .config("spark.sql.session.timeZone", "UTC").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")

    @pandas_udf("string")
    def predict(texts: pd.Series) -> pd.Series:
        import fasttext
        global _model
        try:
            _model
        except NameError:
            _model = fasttext.load_model(model_path)
        labels, _ = _model.predict([" ".join(t.split()) if isinstance(t, str) else "" for t in texts])
        return pd.Series([l[0].replace("__label__", "") for l in labels])

    read = lambda name: spark.read.parquet(os.path.join(warehouse, "raw", name))
    c = read("support_contacts").where((F.col("created_at") >= F.lit(start).cast("timestamp")) &
                                        (F.col("created_at") < F.lit(end).cast("timestamp")))
    # The lookups bounded to the week before the window's end, as in Nightshift's features SQL.
    lo, hi = F.lit(start).cast("timestamp") - F.expr("INTERVAL 7 DAYS"), F.lit(end).cast("timestamp")
    t = read("trips").where((F.col("requested_at") >= lo) & (F.col("requested_at") < hi)) \
        .select("trip_id", F.col("status").alias("trip_status"))
    o = read("orders").where((F.col("placed_at") >= lo) & (F.col("placed_at") < hi)) \
        .select("order_id", F.col("status").alias("order_status"))
    features = c.join(t, "trip_id", "left").join(o, "order_id", "left")
    result = features.select(F.col("contact_id").alias("id"), predict(F.col("text")).alias("subcategory"))
    result.write.mode("overwrite").parquet(out)
    rows = spark.read.parquet(out).count()
    seconds = time.perf_counter() - t0
    spark.stop()
    return rows, seconds


if __name__ == "__main__":
    peer, warehouse, model_path, start, end, out = sys.argv[1:7]
    job = {"pyspark": pyspark_job, "python": python_job}[peer]
    rows, seconds = job(warehouse, model_path, start, end, out)
    print(json.dumps({"peer": peer, "rows": rows, "seconds": round(seconds, 2)}))
