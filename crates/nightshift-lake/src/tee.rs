//! Handing the batches of one streamed write to a second query while they are written.
//!
//! A run's `features` task writes its slice and the `infer` task then reads that slice back.
//! With a tee the second query runs *while* the first write streams: [`tee`] gives a
//! [`TeeSender`], attached to the first write with [`crate::TableWrite::with_tee`], and a
//! [`TeeSource`], which becomes a table the second query reads. Every batch the first write
//! encodes — in the table's own schema, exactly the rows that the table will hold once the
//! write commits — is also handed to the source. The channel is bounded, so the faster side
//! waits for the slower one and memory stays bounded.
//!
//! The second query must not commit before the first does (see
//! [`crate::TableWrite::prepare`]): the source only says that the first write *streamed* all
//! its rows, not that it committed them.
//!
//! The tee is best effort on the sending side: a write that does not stream through the
//! per-core writers drops its sender unused, and [`TeeSource::into_table`] then returns `None`
//! (read the committed table instead); a source that stops reading never slows the write down.
//! A write that fails mid-stream drops its sender without an end mark: the source's query
//! fails rather than see a short slice as complete.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use deltalake::arrow::datatypes::SchemaRef;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::catalog::TableProvider;
use deltalake::datafusion::catalog::streaming::StreamingTable;
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::execution::{SendableRecordBatchStream, TaskContext};
use deltalake::datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use deltalake::datafusion::physical_plan::streaming::PartitionStream;
use tokio::sync::{Mutex, mpsc};

use crate::error::{Error, Result};

/// Batches queued between the write and the reading query before the write waits. Two keep
/// the model fed (it blocks its tokio worker in place, so the write's own tasks go on
/// meanwhile); more only lengthen the tail in which the model works through the queue after
/// the write has ended (4: ~1% slower end to end, up to 30 MiB more memory at 1M contacts).
const QUEUE: usize = 2;

enum Message {
    Schema(SchemaRef),
    Batch(RecordBatch),
    End,
}

/// A tee: the sending half goes to a write, the source to the query that reads its rows.
pub fn tee() -> (TeeSender, TeeSource) {
    let (tx, rx) = mpsc::channel(QUEUE);
    (TeeSender { tx: Some(tx) }, TeeSource { rx })
}

/// The sending half of a [`tee`], held by a write.
#[derive(Debug)]
pub struct TeeSender {
    /// `None` once the source has gone away: the write goes on alone.
    tx: Option<mpsc::Sender<Message>>,
}

impl TeeSender {
    async fn send(&mut self, message: Message) {
        if let Some(tx) = &self.tx
            && tx.send(message).await.is_err()
        {
            tracing::debug!("the tee's reader stopped; the write goes on alone");
            self.tx = None;
        }
    }

    /// The schema of the batches to come (the table's); sent before the first batch.
    pub(crate) async fn schema(&mut self, schema: SchemaRef) {
        self.send(Message::Schema(schema)).await;
    }

    /// One batch as written.
    pub(crate) async fn batch(&mut self, batch: &RecordBatch) {
        if self.tx.is_some() {
            self.send(Message::Batch(batch.clone())).await;
        }
    }

    /// Every batch has been handed over.
    pub(crate) async fn end(mut self) {
        self.send(Message::End).await;
    }
}

/// The reading half of a [`tee`].
#[derive(Debug)]
pub struct TeeSource {
    rx: mpsc::Receiver<Message>,
}

impl TeeSource {
    /// Waits for the write to start streaming and returns its rows as a table of
    /// `partitions` partitions (each takes the next batch when it is ready), to be read once.
    /// `None` when the write will not stream its batches here (it did not take the per-core
    /// writer path, or it failed before its first batch).
    pub async fn into_table(mut self, partitions: usize) -> Result<Option<Arc<dyn TableProvider>>> {
        let schema = match self.rx.recv().await {
            Some(Message::Schema(schema)) => schema,
            None => return Ok(None),
            Some(_) => {
                return Err(Error::Internal(
                    "a tee sent batches before its schema".into(),
                ));
            }
        };
        let shared = Arc::new(Shared {
            rx: Mutex::new(self.rx),
            ended: AtomicBool::new(false),
        });
        let parts: Vec<Arc<dyn PartitionStream>> = (0..partitions.max(1))
            .map(|_| {
                Arc::new(TeePartition {
                    schema: schema.clone(),
                    shared: shared.clone(),
                }) as Arc<dyn PartitionStream>
            })
            .collect();
        let table = StreamingTable::try_new(schema, parts)
            .map_err(|e| Error::Internal(format!("tee source: {e}")))?;
        Ok(Some(Arc::new(table)))
    }
}

struct Shared {
    rx: Mutex<mpsc::Receiver<Message>>,
    /// The end mark arrived: a closed channel is the end, not a failed write.
    ended: AtomicBool,
}

struct TeePartition {
    schema: SchemaRef,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for TeePartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeePartition").finish_non_exhaustive()
    }
}

impl PartitionStream for TeePartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let stream = futures::stream::unfold(self.shared.clone(), |shared| async move {
            if shared.ended.load(Ordering::Acquire) {
                return None;
            }
            let next = shared.rx.lock().await.recv().await;
            match next {
                Some(Message::Batch(batch)) => Some((Ok(batch), shared)),
                Some(Message::End) => {
                    shared.ended.store(true, Ordering::Release);
                    None
                }
                None if shared.ended.load(Ordering::Acquire) => None,
                None => {
                    // Mark it so that the other partitions end instead of failing too.
                    shared.ended.store(true, Ordering::Release);
                    Some((
                        Err(DataFusionError::Execution(
                            "the write feeding this query stopped before its last batch".into(),
                        )),
                        shared,
                    ))
                }
                Some(Message::Schema(_)) => Some((
                    Err(DataFusionError::Internal(
                        "a tee sent its schema twice".into(),
                    )),
                    shared,
                )),
            }
        });
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
    }
}
