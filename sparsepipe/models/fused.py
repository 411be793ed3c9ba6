"""The wavefront on the CPU in C: every step's gather, matrix product, gate math and scatter, one call per batch.

After populations, a wavefront's time on the CPU went to per-step overhead, not arithmetic: each step of each
bucket ran ~15 torch ops forward and ~20 backward (a gather, a batched matrix product whose bias is first copied
into the output, the gates' elementwise passes, scatters, sums), each a separate pass over MB-sized tensors plus
~5-10 us of dispatch and view bookkeeping. Here one C function runs the whole forward of a batch, and one the
whole backward: per step, per bucket, per active path, it multiplies the path's inputs and previous state by its
``[W_ih | W_hh]`` (bias included), applies the cell's gates (GRU, LSTM, RNN-tanh, RNN-ReLU) and adds the new state
onto its layer; the backward mirrors it (gate gradients, weight and bias gradients, the input rows' gradients
scattered back). The inputs are read where they lie in the step rows, through the path's gather indices, in both
directions: the plain path copies them into a gathered block first, which the C path neither fills nor allocates
(measured: 5-25% of a batch, the most for the cheap RNN cells). The other buffers and their layout are the plain
path's (:mod:`~.wavefront`), so the two paths can be compared value by value, except two that the C path keeps
small: the backward's gate gradients (one path's rows per bucket, consumed by the same path's products right away,
where the plain path keeps every step's) and the layers' rows, which the forward zeroes step by step.

The products keep their sums in registers (``gcc`` vector types): 4 rows by 32 strings in the forward, and in the
backward 4 rows' dot products with a column plus that column's input gradient in one pass. Written as plain loops
the backward's dot products each waited on one running sum (4 cycles of latency per multiply-add) and the forward
stored its four output rows once per column; ``perf`` put 40% of a GRU population's time in those two loops.

The C source below is compiled once by the system's C compiler (``cc``, gcc or clang; ``-O3 -ffast-math``:
vectorised ``expf``; on x86 ``-mprefer-vector-width=512``, which gcc otherwise does not use) into a shared library
cached under ``$SPARSEPIPE_CACHE`` (default ``~/.cache/sparsepipe``), keyed by the source, flags and machine,
written atomically so that concurrent jobs can share the cache; it is called through ctypes on
raw pointers (:func:`bucket_spec`). The math is the plain path's (tanh as ``2 sigmoid(2x) - 1``, the same stored
values); sums run in another order, so results agree to float rounding (tests/test_fused.py trains both paths
step by step). Where no compiler works, the plain path runs, after one warning line naming the reason.
``SPARSEPIPE_KERNELS=plain`` (or ``populations.kernels: plain``) forces the plain path.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch

log = logging.getLogger(__name__)

MODES = ("auto", "plain")
CELLS = {"gru": 0, "lstm": 1, "rnn_tanh": 2, "rnn_relu": 3}  # the C driver's cell codes
# the cache key holds the CPU's flags. On x86, gcc keeps loops to 256-bit vectors even where the CPU has 512-bit
# ones; asking for the full width made the gate rows' loops 10-15% faster on AVX-512 (bench/fused_kernels.py)
FLAGS = ["-O3", "-ffast-math", "-fPIC", "-shared", "-march=native",
         *(["-mprefer-vector-width=512"] if platform.machine() in ("x86_64", "AMD64") else [])]

SOURCE = r"""
#include <math.h>
/* Row functions take restrict pointers and stay out of line: so gcc vectorises their loops (and expf, through
   glibc's vector math) where a loop nest over pointers into one block stays scalar. */
#define ROW __attribute__((noinline)) static void
#define R float *restrict
#define C const float *restrict
static inline __attribute__((always_inline)) float sig(float x) { return 1.0f / (1.0f + expf(-x)); }

ROW gru_forward_row(long N, R r, R z, R c, C hh, C hp, R h) {
    for (long n = 0; n < N; n++) {
        float rr = sig(r[n]), zz = sig(z[n]);
        float cc = 2.0f * sig(2.0f * (c[n] + rr * hh[n])) - 1.0f;
        r[n] = rr; z[n] = zz; c[n] = cc;
        h[n] = cc + zz * (hp[n] - cc);
    }
}


ROW gru_backward_row(long N, C r, C z, C c, C hh, C hp, C dh, R dr, R dz, R dc, R dhh, R dprev, int previous) {
    for (long n = 0; n < N; n++) {
        float t = dh[n] * (1.0f - z[n]);
        float dnew = t - t * c[n] * c[n];
        dc[n] = dnew;
        dhh[n] = dnew * r[n];
        dr[n] = dnew * hh[n] * (r[n] * (1.0f - r[n]));
        dz[n] = dh[n] * (hp[n] - c[n]) * (z[n] * (1.0f - z[n]));
        dprev[n] = previous ? dh[n] * z[n] : 0.0f;
    }
}


ROW lstm_forward_row(long N, R i, R f, R g, R o, R gg, C c0, R c1, R tt, R h) {
    for (long n = 0; n < N; n++) {
        float ii = sig(i[n]), ff = sig(f[n]), gs = sig(2.0f * g[n]), oo = sig(o[n]);
        float gv = 2.0f * gs - 1.0f, cv = ff * c0[n] + ii * gv;
        float tv = 2.0f * sig(2.0f * cv) - 1.0f;
        i[n] = ii; f[n] = ff; g[n] = gs; o[n] = oo;
        gg[n] = gv; c1[n] = cv; tt[n] = tv; h[n] = oo * tv;
    }
}


ROW lstm_backward_row(long N, C i, C f, C gs, C o, C gg, C c0, C tt, C dh, R dc, R di, R df, R dg, R d_o) {
    for (long n = 0; n < N; n++) {
        float v = dh[n] * o[n];
        float c = dc[n] + v - v * tt[n] * tt[n];
        di[n] = c * gg[n] * (i[n] * (1.0f - i[n]));
        df[n] = c * c0[n] * (f[n] * (1.0f - f[n]));
        dg[n] = 4.0f * c * i[n] * (gs[n] * (1.0f - gs[n]));
        d_o[n] = dh[n] * tt[n] * (o[n] * (1.0f - o[n]));
        dc[n] = c * f[n];
    }
}


ROW tanh_row(long N, R a, R h) {
    for (long n = 0; n < N; n++) { float v = 2.0f * sig(2.0f * a[n]) - 1.0f; a[n] = v; h[n] = v; }
}
ROW relu_row(long N, R a, R h) {
    for (long n = 0; n < N; n++) { float v = a[n] > 0.0f ? a[n] : 0.0f; a[n] = v; h[n] = v; }
}
/* a: the activated state (the new state h): d tanh = 1 - tanh^2, d relu = [relu > 0] */
ROW tanh_backward_row(long N, C a, C dh, R da) { for (long n = 0; n < N; n++) da[n] = dh[n] - dh[n] * a[n] * a[n]; }
ROW relu_backward_row(long N, C a, C dh, R da) { for (long n = 0; n < N; n++) da[n] = a[n] > 0.0f ? dh[n] : 0.0f; }

/* ---- The whole wavefront of a batch in C: every step's gather, matrix product, gate math and scatter --------

   Per bucket, a row of BUCKET_FIELDS longs (pointers as integers); per step, the buckets in order, and in each
   the active paths (levels sorted: level <= s < level + length) one after another. Within a step no path reads
   what another path of that step writes (layers are read at delay >= 1; the embedding at delay 0 is written before
   the first step), so the order of paths changes nothing but float rounding against torch's batched ops. */
enum { B_P, B_W, B_S, B_I, B_R, B_HROW, B_LEVELS, B_GATHER, B_ROUTE_OUT, B_ROUTE, B_WEIGHTS, B_BIAS, B_A, B_G,
       B_C, B_T, B_DA, B_DWT, B_DB, B_DC, B_UNITS, B_FAN_IN, BUCKET_FIELDS };
#define PTR(type, b, field) ((type *)(b)[field])

static void active(const long *levels, long P, long s, long length, long *lo, long *hi) {
    long a = 0, b;
    while (a < P && levels[a] < s - length + 1) a++;
    b = a;
    while (b < P && levels[b] <= s) b++;
    *lo = a; *hi = b;
}

/* A path's real rows and columns within its bucket's padded block: gate g's rows g*w .. g*w + units - 1, and the
   columns 0 .. fan_in - 1 (its inputs) and I .. I + units - 1 (its previous state). Padding holds zeros in the plain
   path; here it is skipped, so a path costs its own size, whatever the widest path of its bucket. */
typedef struct { long gates, w, units, fan_in, I, S; } Shape;
#define FOR_COLUMNS(sh, k, ...) \
    for (long k = 0; k < (sh).fan_in; k++) __VA_ARGS__ \
    for (long k = (sh).I; k < (sh).I + (sh).units; k++) __VA_ARGS__

/* The products hold their sums in registers: a tile of 4 rows (rows of every gate, taken in order; a last, short
   tile is filled with rows of zero weights whose results go to a scratch row) against 16-string vectors. One sum
   per row and vector would keep each multiply-add waiting for the last (4 cycles of latency); 2 vectors per row
   give 8 independent sums. Written with gcc's vector types, so the width is the machine's (one AVX-512 register). */
typedef float V __attribute__((vector_size(64), aligned(4)));  /* unaligned loads and stores */
#define VL 16
static inline __attribute__((always_inline)) V ld(const float *p) { return *(const V *)p; }
static inline __attribute__((always_inline)) void st(float *p, V v) { *(V *)p = v; }
/* lanes of two vectors picked by index (0-15: the first's, 16-31: the second's): gcc >= 12 and clang share
   __builtin_shufflevector; older gcc has only __builtin_shuffle */
#if defined(__clang__) || __GNUC__ >= 12
#define PICK(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
typedef int VI __attribute__((vector_size(64)));
#define PICK(a, b, ...) __builtin_shuffle(a, b, (VI){__VA_ARGS__})
#endif
/* The lane sums of 4 vectors at once, as a tree of shuffles: sums[j] = the sum of v_j's 16 lanes */
static inline __attribute__((always_inline)) void sums4(V v0, V v1, V v2, V v3, float *sums) {
    V a = PICK(v0, v1, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23)
        + PICK(v0, v1, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    V b = PICK(v2, v3, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23)
        + PICK(v2, v3, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    /* a: v0's 8 half-sums, then v1's; b: v2's, v3's */
    V c = PICK(a, b, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27)
        + PICK(a, b, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
    /* c: 4 partial sums of each of v0 .. v3 */
    V e = c + PICK(c, c, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
    e += PICK(e, e, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
    sums[0] = e[0]; sums[1] = e[4]; sums[2] = e[8]; sums[3] = e[12];
}

/* The path's real columns (its inputs, then its previous state) and rows, the rows padded to a multiple of 4 with
   -1 (a row of zero weights: adds nothing anywhere) */
static long columns_of(Shape sh, long *col) {
    long c = 0;
    FOR_COLUMNS(sh, k, { col[c++] = k; })
    return c;
}
static long rows_of(Shape sh, long *row) {
    long r = 0;
    for (long g = 0; g < sh.gates; g++)
        for (long j = 0; j < sh.units; j++) row[r++] = g * sh.w + j;
    while (r % 4) row[r++] = -1;
    return r;
}

/* a = bias + W . x on the real rows. x[k]: column k's row, read where the step rows hold it (win + gather[k] * N)
   instead of copied into a gathered block first */
ROW gemm_bias(Shape sh, long N, const float *restrict W, const float *restrict B, const float *const *restrict x,
              float *restrict a) {
    long S = sh.S, col[sh.fan_in + sh.units], row[sh.gates * sh.units + 3];
    long cols = columns_of(sh, col), rows = rows_of(sh, row);
    float zero_w[S], scratch[N];
    if (rows > sh.gates * sh.units)  /* padded rows read zero weights (GRU and LSTM rows never need padding) */
        for (long k = 0; k < S; k++) zero_w[k] = 0.0f;
    for (long t = 0; t < rows; t += 4) {
        const float *w[4];
        float *o[4], b[4];
        for (int j = 0; j < 4; j++) {
            long r = row[t + j];
            w[j] = r < 0 ? zero_w : W + r * S;
            o[j] = r < 0 ? scratch : a + r * N;
            b[j] = r < 0 ? 0.0f : B[r];
        }
        long n = 0;
        for (; n + 2 * VL <= N; n += 2 * VL) {
            V p0 = (V){} + b[0], p1 = (V){} + b[1], p2 = (V){} + b[2], p3 = (V){} + b[3];
            V q0 = p0, q1 = p1, q2 = p2, q3 = p3;
            for (long c = 0; c < cols; c++) {
                long k = col[c];
                V u = ld(x[k] + n), v = ld(x[k] + n + VL);
                float f0 = w[0][k], f1 = w[1][k], f2 = w[2][k], f3 = w[3][k];
                p0 += f0 * u; q0 += f0 * v; p1 += f1 * u; q1 += f1 * v;
                p2 += f2 * u; q2 += f2 * v; p3 += f3 * u; q3 += f3 * v;
            }
            st(o[0] + n, p0); st(o[0] + n + VL, q0); st(o[1] + n, p1); st(o[1] + n + VL, q1);
            st(o[2] + n, p2); st(o[2] + n + VL, q2); st(o[3] + n, p3); st(o[3] + n + VL, q3);
        }
        for (; n < N; n++)  /* the strings past the last 32: a batch's tail */
            for (int j = 0; j < 4; j++) {
                float sum = b[j];
                for (long c = 0; c < cols; c++) sum += w[j][col[c]] * x[col[c]][n];
                o[j][n] = sum;
            }
    }
}

ROW add_row(long N, R dst, C src) { for (long n = 0; n < N; n++) dst[n] += src[n]; }
ROW zero_row(long N, R dst) { for (long n = 0; n < N; n++) dst[n] = 0.0f; }

/* On the real rows and columns: dWt (S x M, M = gates * w) += x . d^T, dB += sum over n of d, and
   dx_k = sum_r W[r, k] d_r added onto the rows x was gathered from (dwin + gather[k] * N). Per column and tile of
   4 rows, one pass over the strings does both: the 4 dot products (8 independent sums, in registers) and the
   column's input gradient. */
ROW weights_backward(Shape sh, long N, const float *restrict W, const float *const *restrict x, const float *restrict d,
                     float *restrict dWt, float *restrict dB, float *restrict dwin, const long *restrict gather) {
    long S = sh.S, M = sh.gates * sh.w, col[sh.fan_in + sh.units], row[sh.gates * sh.units + 3];
    long cols = columns_of(sh, col), rows = rows_of(sh, row);
    float zero_d[N];
    if (rows > sh.gates * sh.units)  /* padded rows read zero gradients */
        for (long n = 0; n < N; n++) zero_d[n] = 0.0f;
    for (long t = 0; t < rows; t++) {
        long r = row[t];
        if (r < 0) continue;
        float sum = 0.0f;
        for (long n = 0; n < N; n++) sum += d[r * N + n];
        dB[r] += sum;
    }
    for (long c = 0; c < cols; c++) {
        long k = col[c];
        const float *xk = x[k];
        float *target = dwin + gather[k] * N;
        for (long t = 0; t < rows; t += 4) {
            const float *e[4];
            float f[4];
            for (int j = 0; j < 4; j++) {
                long r = row[t + j];
                e[j] = r < 0 ? zero_d : d + r * N;
                f[j] = r < 0 ? 0.0f : W[r * S + k];
            }
            V s0 = {}, s1 = {}, s2 = {}, s3 = {}, z0 = {}, z1 = {}, z2 = {}, z3 = {};
            long n = 0;
            for (; n + 2 * VL <= N; n += 2 * VL) {
                V u = ld(xk + n), v = ld(xk + n + VL);
                V a0 = ld(e[0] + n), a1 = ld(e[1] + n), a2 = ld(e[2] + n), a3 = ld(e[3] + n);
                V b0 = ld(e[0] + n + VL), b1 = ld(e[1] + n + VL), b2 = ld(e[2] + n + VL), b3 = ld(e[3] + n + VL);
                s0 += u * a0; s1 += u * a1; s2 += u * a2; s3 += u * a3;
                z0 += v * b0; z1 += v * b1; z2 += v * b2; z3 += v * b3;
                st(target + n, ld(target + n) + f[0] * a0 + f[1] * a1 + f[2] * a2 + f[3] * a3);
                st(target + n + VL, ld(target + n + VL) + f[0] * b0 + f[1] * b1 + f[2] * b2 + f[3] * b3);
            }
            float dot[4];
            sums4(s0 + z0, s1 + z1, s2 + z2, s3 + z3, dot);
            for (; n < N; n++) {
                float v = xk[n];
                for (int j = 0; j < 4; j++) dot[j] += v * e[j][n];
                target[n] += f[0] * e[0][n] + f[1] * e[1][n] + f[2] * e[2][n] + f[3] * e[3][n];
            }
            for (int j = 0; j < 4; j++)
                if (row[t + j] >= 0) dWt[k * M + row[t + j]] += dot[j];
        }
    }
}

/* Where path q's pre-activations of step s lie in its bucket's buffer: every step's for GRU and LSTM (their
   backward reads the gates again); one path's scratch rows for the RNN cells, whose backward reads the new state
   in the step rows instead (wavefront.py allocates the buffer to match) */
static long acts_at(long cell, long s, long P, long q, long Rr, long N) { return cell >= 2 ? 0 : (s * P + q) * Rr * N; }

/* bucket k's path q: its real shape (units and fan-in of its own, within the bucket's padded block) */
static Shape shape_of(const long *b, long q) {
    Shape sh = {b[B_R] / b[B_W], b[B_W], PTR(const long, b, B_UNITS)[q], PTR(const long, b, B_FAN_IN)[q], b[B_I],
                b[B_S]};
    return sh;
}

/* cell: 0 GRU, 1 LSTM, 2 RNN-tanh, 3 RNN-ReLU. out: (window + steps) x rows x N, step s's rows at
   out + (window + s) * rows * N; its first `outputs` rows are the layers' outputs, summed over the paths writing
   them: zeroed here, just before the step adds onto them (only this step writes them; later steps read them).
   Padded units are skipped: never computed, never added anywhere. */
void wavefront_forward(long cell, long steps, long length, long N, long rows, long window, long outputs, float *out,
                       long buckets, const long *spec) {
    for (long s = 0; s < steps; s++) {
        const float *win = out + s * rows * N;
        float *cur = out + (window + s) * rows * N;
        zero_row(outputs * N, cur);
        for (long k = 0; k < buckets; k++) {
            const long *b = spec + k * BUCKET_FIELDS;
            long P = b[B_P], w = b[B_W], S = b[B_S], I = b[B_I], Rr = b[B_R], lo, hi;
            active(PTR(const long, b, B_LEVELS), P, s, length, &lo, &hi);
            for (long q = lo; q < hi; q++) {
                Shape sh = shape_of(b, q);
                const long *gather = PTR(const long, b, B_GATHER) + q * S;
                const float *xh[S];  /* the path's columns where they lie; padding columns are never read */
                float *a = PTR(float, b, B_A) + acts_at(cell, s, P, q, Rr, N);
                float *h = cur + (b[B_HROW] + q * w) * N;
                FOR_COLUMNS(sh, j, { xh[j] = win + gather[j] * N; })
                gemm_bias(sh, N, PTR(const float, b, B_WEIGHTS) + q * Rr * S, PTR(const float, b, B_BIAS) + q * Rr,
                          xh, a);
                for (long u = 0; u < sh.units; u++) {
                    float *r = a + u * N;
                    if (cell == 0) {
                        gru_forward_row(N, r, r + w * N, r + 2 * w * N, r + 3 * w * N, xh[I + u], h + u * N);
                    } else if (cell == 2) {
                        tanh_row(N, r, h + u * N);
                    } else if (cell == 3) {
                        relu_row(N, r, h + u * N);
                    } else {
                        long at = ((s * P + q) * w + u) * N;
                        lstm_forward_row(N, r, r + w * N, r + 2 * w * N, r + 3 * w * N, PTR(float, b, B_G) + at,
                                         PTR(float, b, B_C) + at, PTR(float, b, B_C) + at + P * w * N,
                                         PTR(float, b, B_T) + at, h + u * N);
                    }
                }
                const long *route_out = PTR(const long, b, B_ROUTE_OUT) + q * w;
                for (long u = 0; u < sh.units; u++) add_row(N, cur + route_out[u] * N, h + u * N);
            }
        }
    }
}

/* out: the forward's step rows, unchanged since (a step never writes rows an earlier step read), so a path's
   inputs are read there again. d_out: like out; on entry the outputs' gradients and the zeros the Python side
   wrote (see wavefront.py). */
void wavefront_backward(long cell, long steps, long length, long N, long rows, long window, const float *out,
                        float *d_out, long buckets, const long *spec) {
    for (long s = steps - 1; s >= 0; s--) {
        const float *win = out + s * rows * N;
        float *dwin = d_out + s * rows * N;
        float *dcur = d_out + (window + s) * rows * N;
        for (long k = 0; k < buckets; k++) {
            const long *b = spec + k * BUCKET_FIELDS;
            long P = b[B_P], w = b[B_W], S = b[B_S], I = b[B_I], Rr = b[B_R], lo, hi;
            active(PTR(const long, b, B_LEVELS), P, s, length, &lo, &hi);
            for (long q = lo; q < hi; q++) {
                Shape sh = shape_of(b, q);
                float *dh = dcur + (b[B_HROW] + q * w) * N;
                float *dprev = d_out + ((window - 1 + s) * rows + b[B_HROW] + q * w) * N;
                const long *route = PTR(const long, b, B_ROUTE) + q * w;
                const long *gather = PTR(const long, b, B_GATHER) + q * S;
                const float *xh[S];
                FOR_COLUMNS(sh, j, { xh[j] = win + gather[j] * N; })
                const float *a = PTR(const float, b, B_A) + acts_at(cell, s, P, q, Rr, N);  /* GRU and LSTM read it */
                const float *h = out + ((window + s) * rows + b[B_HROW] + q * w) * N;  /* the forward's new state */
                float *da = PTR(float, b, B_DA);  /* one path's rows, reused: consumed below, in this path */
                for (long u = 0; u < sh.units; u++) add_row(N, dh + u * N, dcur + route[u] * N);
                for (long u = 0; u < sh.units; u++) {
                    const float *r = a + u * N;
                    float *d = da + u * N;
                    if (cell == 0) {
                        gru_backward_row(N, r, r + w * N, r + 2 * w * N, r + 3 * w * N, xh[I + u], dh + u * N,
                                         d, d + w * N, d + 2 * w * N, d + 3 * w * N, dprev + u * N, s > 0);
                    } else if (cell >= 2) {  /* the previous state's gradient comes through the weights only */
                        zero_row(N, dprev + u * N);
                        (cell == 2 ? tanh_backward_row : relu_backward_row)(N, h + u * N, dh + u * N, d);
                    } else {
                        long at = ((s * P + q) * w + u) * N;
                        zero_row(N, dprev + u * N);
                        lstm_backward_row(N, r, r + w * N, r + 2 * w * N, r + 3 * w * N, PTR(const float, b, B_G) + at,
                                          PTR(const float, b, B_C) + at, PTR(const float, b, B_T) + at, dh + u * N,
                                          PTR(float, b, B_DC) + (q * w + u) * N, d, d + w * N, d + 2 * w * N,
                                          d + 3 * w * N);
                    }
                }
                weights_backward(sh, N, PTR(const float, b, B_WEIGHTS) + q * Rr * S, xh, da,
                                 PTR(float, b, B_DWT) + q * S * Rr, PTR(float, b, B_DB) + q * Rr, dwin, gather);
            }
        }
    }
}
"""

BUCKET_FIELDS = 22  # the C enum's count: one row of longs per bucket (see wavefront_forward)

# the C entry points and their leading long arguments (sizes and buffer addresses; then the bucket spec)
_ENTRY_POINTS = {"wavefront_forward": 9, "wavefront_backward": 9}

_state: dict[str, object] = {"mode": os.environ.get("SPARSEPIPE_KERNELS", "auto"), "library": None, "tried": False}


def use(mode: str) -> None:
    """Choose ``auto`` (fused where the compiler works) or ``plain`` for wavefronts run after this call."""
    if mode not in MODES:
        raise ValueError(f"kernels: expected one of {', '.join(MODES)}; got {mode!r}")
    _state["mode"] = mode


def _cache_dir() -> Path:
    return Path(os.environ.get("SPARSEPIPE_CACHE", Path.home() / ".cache" / "sparsepipe")) / "kernels"


def _cpu_flags() -> str:
    """The CPU's feature flags: ``-march=native`` code is only reused on a CPU with the same features (a cluster's
    shared home may serve several CPU models)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor()
    return next((line for line in lines if line.startswith(("flags", "Features"))), "")


def _compile() -> ctypes.CDLL:
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise OSError("no C compiler (cc or gcc) on PATH")
    key = hashlib.sha256("\n".join([SOURCE, *FLAGS, platform.machine(), _cpu_flags(), compiler]).encode()
                         ).hexdigest()[:16]
    target = _cache_dir() / f"wavefront-{key}.so"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            source, built = Path(tmp) / "wavefront.c", Path(tmp) / "wavefront.so"
            source.write_text(SOURCE)
            done = subprocess.run([compiler, *FLAGS, str(source), "-o", str(built), "-lm"], capture_output=True,
                                  text=True)
            if done.returncode != 0:
                first = (done.stderr.strip().splitlines() or ["no message"])[0]
                raise OSError(f"{compiler} failed: {first}")
            os.replace(built, target)  # atomic: a concurrent job sees the whole library or none
    library = ctypes.CDLL(str(target))
    for name, longs in _ENTRY_POINTS.items():
        function = getattr(library, name)
        function.restype = None
        function.argtypes = [ctypes.c_long] * longs + [ctypes.POINTER(ctypes.c_long)]
    return library


def library() -> ctypes.CDLL | None:
    """The compiled kernels, or None (plain path): mode ``plain``, or the first compile failed (warned once)."""
    if _state["mode"] == "plain":
        return None
    if not _state["tried"]:
        _state["tried"] = True
        try:
            _state["library"] = _compile()
        except OSError as error:
            log.warning("C wavefront unavailable, using the plain torch path: %s", error)
    return _state["library"]  # type: ignore[return-value]


def kernels_for(cell: str, tensor: torch.Tensor) -> ctypes.CDLL | None:
    """The kernels for a wavefront of ``cell`` on ``tensor``'s device and type: float32 CPU tensors, where they
    compiled; else None (the plain path)."""
    if cell in CELLS and tensor.device.type == "cpu" and tensor.dtype == torch.float32:
        return library()
    return None


def _pointer(x: torch.Tensor | None) -> int:
    """The address of a contiguous tensor's first element (0 for an absent one); the C code indexes it densely."""
    if x is None:
        return 0
    if not x.is_contiguous():
        raise ValueError(f"fused kernels: expected a contiguous tensor, got shape {tuple(x.shape)} strides "
                         f"{x.stride()}")
    return x.data_ptr()


def bucket_spec(states: list, grads: list | None = None) -> ctypes.Array:
    """The C driver's description of a wavefront's buckets: per bucket :data:`BUCKET_FIELDS` longs (sizes, then
    the addresses of its index plan, weights and buffers), in the order of the C enum. ``states``: the forward's
    ``_BucketState`` objects; ``grads``: the backward's ``_BucketGradient`` objects (None in the forward)."""
    values: list[int] = []
    for k, st in enumerate(states):
        b, g = st.bucket, grads[k] if grads is not None else None
        lstm = st.lstm if len(st.lstm) == 3 else [None, None, None]  # c (steps + 1), tanh(g), tanh(c)
        values += [b.paths, b.units, b.span, b.inputs, b.packed_rows, b.hidden_row,
                   *map(_pointer, (b.level_index, b.gather, b.route_out, b.route, st.weights, st.bias,
                                   st.acts, lstm[1], lstm[0], lstm[2]))]
        values += [_pointer(x) for x in ((g.d_acts, g.d_weights_t, g.d_bias, g.d_c) if g is not None
                                          else (None,) * 4)]
        values += [_pointer(b.path_units), _pointer(b.path_inputs)]
    return (ctypes.c_long * len(values))(*values)
