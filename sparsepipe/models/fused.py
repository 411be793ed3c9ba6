"""Fused gate arithmetic for the wavefront on the CPU: one pass over memory per GRU/LSTM step instead of one per op.

After populations, a wavefront step's time on the CPU goes to the gates' elementwise arithmetic: ~10 separate
torch ops in the forward and ~12 in the backward, each a memory-bound pass over MB-sized tensors plus ~10 us of
dispatch (profiled: ~30% of a GRU population's batch). Here each step's gate math is one C loop over the active
paths' units and strings, reading the pre-activations once and writing what the backward needs. The matrix
products, gathers and scatters stay torch's.

The C source below is compiled once by the system's C compiler (``cc``, ``-O3 -ffast-math``: vectorised ``expf``)
into a shared library cached under ``$SPARSEPIPE_CACHE`` (default ``~/.cache/sparsepipe``), keyed by the source,
flags and machine, written atomically so that concurrent jobs can share the cache; it is called through ctypes on
raw pointers. The math is the plain path's (tanh as ``2 sigmoid(2x) - 1``, the same stored values), so results
agree to float rounding (tests/test_fused.py compares both paths step by step). Where no compiler works, the
plain path runs, after one warning line naming the reason. ``SPARSEPIPE_KERNELS=plain`` (or
``populations.kernels: plain``) forces the plain path.
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
FLAGS = ["-O3", "-ffast-math", "-fPIC", "-shared", "-march=native"]  # the cache key holds the CPU's flags

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

/* A: (P, 4w, N) pre-activations r, z, candidate input part, candidate hidden part (bias included); on return r, z
   activated and the candidate row holds tanh(candidate). Hp: previous state, H: new state (P, w, N). */
void gru_forward(long P, long w, long N, float *A, long a_p, const float *Hp, long hp_p, float *H, long h_p) {
    for (long p = 0; p < P; p++)
        for (long u = 0; u < w; u++) {
            float *r = A + p * a_p + u * N;
            gru_forward_row(N, r, r + w * N, r + 2 * w * N, r + 3 * w * N, Hp + p * hp_p + u * N, H + p * h_p + u * N);
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

/* Gradients of the four pre-activation blocks (D, like A) from the state's gradient dH; dPrev (the previous
   state's gradient) is set to dH * z where the step has a previous one (previous != 0), else zero. */
void gru_backward(long P, long w, long N, const float *A, long a_p, const float *Hp, long hp_p, const float *dH,
                  long dh_p, float *D, long d_p, float *dPrev, long dp_p, int previous) {
    for (long p = 0; p < P; p++)
        for (long u = 0; u < w; u++) {
            const float *r = A + p * a_p + u * N;
            float *d = D + p * d_p + u * N;
            gru_backward_row(N, r, r + w * N, r + 2 * w * N, r + 3 * w * N, Hp + p * hp_p + u * N,
                             dH + p * dh_p + u * N, d, d + w * N, d + 2 * w * N, d + 3 * w * N,
                             dPrev + p * dp_p + u * N, previous);
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

/* A: (P, 4w, N) pre-activations i, f, g, o; on return sigmoid(i), sigmoid(f), sigmoid(2g), sigmoid(o). G: tanh(g);
   C0: previous cell state, C1: new cell state, T: tanh(C1), H: new state (all P, w, N). */
void lstm_forward(long P, long w, long N, float *A, long a_p, float *G, long g_p, const float *C0, long c0_p,
                  float *C1, long c1_p, float *T, long t_p, float *H, long h_p) {
    for (long p = 0; p < P; p++)
        for (long u = 0; u < w; u++) {
            float *i = A + p * a_p + u * N;
            lstm_forward_row(N, i, i + w * N, i + 2 * w * N, i + 3 * w * N, G + p * g_p + u * N,
                             C0 + p * c0_p + u * N, C1 + p * c1_p + u * N, T + p * t_p + u * N, H + p * h_p + u * N);
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

/* dC: the cell state's gradient carried between steps (P, w, N), updated to the previous step's. */
void lstm_backward(long P, long w, long N, const float *A, long a_p, const float *G, long g_p, const float *C0,
                   long c0_p, const float *T, long t_p, const float *dH, long dh_p, float *dC, long dc_p, float *D,
                   long d_p) {
    for (long p = 0; p < P; p++)
        for (long u = 0; u < w; u++) {
            const float *i = A + p * a_p + u * N;
            float *d = D + p * d_p + u * N;
            lstm_backward_row(N, i, i + w * N, i + 2 * w * N, i + 3 * w * N, G + p * g_p + u * N,
                              C0 + p * c0_p + u * N, T + p * t_p + u * N, dH + p * dh_p + u * N,
                              dC + p * dc_p + u * N, d, d + w * N, d + 2 * w * N, d + 3 * w * N);
        }
}
"""

_SIGNATURES = {
    "gru_forward": 3 + 6,
    "gru_backward": 3 + 10 + 1,
    "lstm_forward": 3 + 12,
    "lstm_backward": 3 + 14,
}

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
    for name, count in _SIGNATURES.items():
        function = getattr(library, name)
        function.restype = None
        # every argument is a long or a pointer (passed as an integer address), except gru_backward's last flag
        function.argtypes = [ctypes.c_long] * count if name != "gru_backward" else (
            [ctypes.c_long] * (count - 1) + [ctypes.c_int])
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
            log.warning("fused gate kernels unavailable, using the plain path: %s", error)
    return _state["library"]  # type: ignore[return-value]


def kernels_for(cell: str, tensor: torch.Tensor) -> ctypes.CDLL | None:
    """The kernels for a wavefront of ``cell`` on ``tensor``'s device and type: GRU or LSTM on float32 CPU
    tensors, where they compiled; else None (the plain path)."""
    if cell in ("gru", "lstm") and tensor.device.type == "cpu" and tensor.dtype == torch.float32:
        return library()
    return None


def address(x: torch.Tensor, n: int) -> tuple[int, int]:
    """(pointer, path stride in elements) of a (P, rows, N) view whose rows are N contiguous floats apart."""
    if x.stride(2) != 1 or (x.shape[1] > 1 and x.stride(1) != n):
        raise ValueError(f"fused kernels: unexpected layout {tuple(x.shape)} strides {x.stride()}")
    return x.data_ptr(), x.stride(0)
