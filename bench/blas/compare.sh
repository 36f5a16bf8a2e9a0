#!/bin/sh
# Replays the BLAS calls of one Meta-SAC update (bench/blas/blas_shapes.c) on every BLAS Debian
# has installed here (libblas.so.3 of OpenBLAS pthread/OpenMP and BLIS pthread/OpenMP), on 1 and
# 2 threads. Installs nothing: apt-get install libopenblas0-openmp libblis4-pthread
# libblis4-openmp to compare them all. Run from the repo root after `make` (part of make bench).
set -e
BUILD=${BUILD:-build}
LIBDIR=/usr/lib/x86_64-linux-gnu
out=$BUILD/bench/blas_shapes
# The OpenBLAS kernels the programs run (common/blas.h may set OPENBLAS_CORETYPE).
core=$($BUILD/bin/metasac-learner --help | sed -n 's/^(OpenBLAS \(.*\) kernels)$/\1/p')
cc -std=c11 -O2 -D_GNU_SOURCE -Icommon -Ilearner -I$BUILD/gen \
    $(pkg-config --cflags openblas) bench/blas/blas_shapes.c $BUILD/libmetasac.a \
    -Wl,--wrap=cblas_sgemm,--wrap=cblas_sgemv,--wrap=cblas_sger -L$LIBDIR/openblas-pthread \
    -l:libblas.so.3 $(pkg-config --libs libzmq libprotobuf-c inih zlib libmicrohttpd) \
    -lmujoco -lm -lpthread -ldl -o $out
for impl in openblas-pthread openblas-openmp blis-pthread blis-openmp; do
    [ -e $LIBDIR/$impl/libblas.so.3 ] || { echo "$impl: not installed"; continue; }
    for t in 1 2; do
        printf '%-16s %d thr  ' $impl $t
        LD_LIBRARY_PATH=$LIBDIR/$impl OPENBLAS_CORETYPE=$core OPENBLAS_NUM_THREADS=$t \
            OMP_NUM_THREADS=$t BLIS_NUM_THREADS=$t $out
    done
done
