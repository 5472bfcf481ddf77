#!/bin/bash
# Reruns every check of THEORY §11 (times on a shared 2-core machine); writes out_*.txt here.
cd "$(dirname "$0")"
PY=${PYTHON:-python3}   # needs numpy and scipy
$PY check_formulas.py > out_formulas.txt 2>&1                                   # <1 s
$PY check_beta_limit.py > out_beta_limit.txt 2>&1                               # <1 s
# regime 1 (B fixed, "mean")
$PY check_regime1.py --n 2000 --B 4  --seeds 8 --T 6 > out_regime1_n2000_B4.txt 2>&1   # ~17 s
$PY check_regime1.py --n 4000 --B 4  --seeds 4 --T 4 > out_regime1_n4000_B4.txt 2>&1   # ~22 s
$PY check_regime1.py --n 2000 --B 16 --seeds 8 --T 4 > out_regime1_n2000_B16.txt 2>&1  # ~40 s
$PY check_regime1.py --n 2000 --B 1  --seeds 8 --T 4 > out_regime1_n2000_B1.txt 2>&1   # ~5 s
# regime 2 (B = beta n, "sum"), setting A (d = 1, lambda = inf)
$PY check_regime2.py fast --orders sim,dfirst,gfirst --seeds 20 --json res_fast_A.json > out_fast_A.txt 2>&1   # ~30 s
$PY check_regime2.py literal --ns 1000 --seeds 20 --json res_literal_A_n1000.json > out_literal_A_n1000.txt 2>&1  # ~18 s
$PY check_regime2.py literal --ns 1000,4000 --seeds 3 --json res_literal_A_n1000_4000_3seeds.json > out_literal_A_n1000_4000_3seeds.txt 2>&1  # ~45 s
$PY check_regime2.py literal --ns 1000,4000 --seeds 6 --betas 1 --T 3 --json res_literal_A_T3.json > out_literal_A_T3.txt 2>&1  # ~12 s
$PY check_regime2.py literal --ns 16000 --seeds 2 --betas 1 --T 3 --json res_literal_A_n16000.json > out_literal_A_n16000.txt 2>&1  # ~60 s
$PY check_regime2.py fast --ns 1000,4000,16000,64000 --seeds 40 --betas 1 --T 3 --json res_fast_A_T3.json > out_fast_A_T3.txt 2>&1  # ~3 s
$PY check_regime2.py law > out_law_A.txt 2>&1                                   # ~4 s
$PY check_bias.py --seeds 600 --ns 1000,2000,4000,8000 > out_bias.txt 2>&1      # ~45 s
$PY check_sd_scaling.py > out_sd_scaling.txt 2>&1                               # ~22 s
$PY check_kD.py > out_kD.txt 2>&1                                               # ~2 s
# other settings
$PY check_regime2.py fast --setting F --seeds 20 --json res_fast_F.json > out_fast_F.txt 2>&1          # finite lambda, ~20 s
$PY check_regime2.py fast --setting D2 --seeds 20 --ns 1000,4000,16000 --json res_fast_D2.json > out_fast_D2.txt 2>&1  # d = 2, ~9 s
$PY check_regime2.py fast --setting LOG --seeds 20 --ns 1000,4000,16000 --json res_fast_LOG.json > out_fast_LOG.txt 2>&1  # logistic, ~5 s
$PY check_regime2.py literal --setting LOG --seeds 12 --ns 1000 --betas 0.5,2 --json res_literal_LOG.json > out_literal_LOG.txt 2>&1  # ~5 s
$PY check_zmax_null.py 1000 > out_zmax_null.txt; $PY check_zmax_null.py 4000 >> out_zmax_null.txt; $PY check_zmax_null.py 16000 >> out_zmax_null.txt  # ~25 s
