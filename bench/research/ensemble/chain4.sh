export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1; P="taskset -c 1 ../../.venv/bin/python run_nn.py"
$P '{"tag":"mlp128","hidden":128,"wide":false,"lr":0.1,"init_std":0.1,"epochs":12,"eval_eps":[12]}' banking,clinc,hwu 3,4
taskset -c 1 ../../.venv/bin/python summary.py mlp128 0,1,2,3,4 > summary_mlp128_5seeds.log
