export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1; P="taskset -c 1 ../../.venv/bin/python run_nn.py"
$P '{"tag":"wd512","hidden":512,"wide":true,"lr":0.2,"lr_h":0.1,"init_std":0.1,"epochs":14,"eval_eps":[8,10,12,14]}' banking,clinc,hwu 0
$P '{"tag":"lin","epochs":20,"eval_eps":[5,10,15,20]}' banking,clinc,hwu 1,2
$P '{"tag":"mlp512i01","hidden":512,"wide":false,"lr":0.1,"init_std":0.1,"epochs":14,"eval_eps":[10,12,14]}' banking,clinc,hwu 1,2
