export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1; P="taskset -c 1 ../../.venv/bin/python run_nn.py"
$P '{"tag":"lin","epochs":20,"eval_eps":[20]}' banking,clinc,hwu 3,4
$P '{"tag":"mlp512i01","hidden":512,"wide":false,"lr":0.1,"init_std":0.1,"epochs":12,"eval_eps":[12]}' banking,clinc,hwu 3,4
