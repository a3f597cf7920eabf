// SPDX-License-Identifier: Apache-2.0
#include "llama_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>

// The V8 helpers are always inlined: no vector crosses a call, whatever the ABI.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

// The kernels are built twice on x86-64, for AVX2 and for the baseline, and
// the loader picks one per process. Both perform the same IEEE operations in
// the same order (the build keeps contraction into FMA off), so they agree
// to the bit.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define LL_KERNEL __attribute__((target_clones("avx2", "default")))
#else
#define LL_KERNEL
#endif
#define LL_INLINE inline __attribute__((always_inline))

namespace lightloop::workloads::internal {
namespace {

using V8 = float __attribute__((vector_size(32)));

LL_INLINE V8 Load8(const float* p) {
  V8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// The last n % 8 values, zero-padded: lane l takes element (n / 8) * 8 + l.
LL_INLINE V8 LoadTail(const float* p, int64_t count) {
  V8 v = {};
  std::memcpy(&v, p, static_cast<size_t>(count) * sizeof(float));
  return v;
}

LL_INLINE float Combine(V8 a) {
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

// R rows of w against T tokens of x: out[r * T + t], each in Dot's order.
template <int R, int T>
LL_INLINE void Tile(const float* w, const float* x, int64_t in, float* out) {
  V8 acc[R][T] = {};
  int64_t i = 0;
  for (; i + 8 <= in; i += 8) {
    V8 xv[T];
    for (int t = 0; t < T; ++t) xv[t] = Load8(x + t * in + i);
    for (int r = 0; r < R; ++r) {
      const V8 wv = Load8(w + r * in + i);
      for (int t = 0; t < T; ++t) acc[r][t] += wv * xv[t];
    }
  }
  if (i < in) {
    for (int r = 0; r < R; ++r) {
      const V8 wv = LoadTail(w + r * in + i, in - i);
      for (int t = 0; t < T; ++t) acc[r][t] += wv * LoadTail(x + t * in + i, in - i);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < T; ++t) out[r * T + t] = Combine(acc[r][t]);
  }
}

// Rows [r, r + R) against every token, two tokens at a time.
template <int R>
LL_INLINE void RowBlock(const float* w, const float* x, float* y, int64_t in, int64_t out, int64_t tokens,
                        int64_t r) {
  float o[R * 2];
  int64_t t = 0;
  for (; t + 2 <= tokens; t += 2) {
    Tile<R, 2>(w + r * in, x + t * in, in, o);
    for (int k = 0; k < R; ++k) {
      y[t * out + r + k] = o[k * 2];
      y[(t + 1) * out + r + k] = o[k * 2 + 1];
    }
  }
  if (t < tokens) {
    Tile<R, 1>(w + r * in, x + t * in, in, o);
    for (int k = 0; k < R; ++k) y[t * out + r + k] = o[k];
  }
}

LL_KERNEL void MatmulRows(const float* w, const float* x, float* y, int64_t in, int64_t out, int64_t tokens,
                          int64_t row_begin, int64_t row_end) {
  int64_t r = row_begin;
  for (; r + 4 <= row_end; r += 4) RowBlock<4>(w, x, y, in, out, tokens, r);
  for (; r < row_end; ++r) RowBlock<1>(w, x, y, in, out, tokens, r);
}

}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  start_cv_.notify_all();
  for (std::thread& w : workers_) w.join();
}

void ThreadPool::RunPieces(const Job& job) {
  const uint64_t tag = static_cast<uint64_t>(job.generation) << 32;
  for (;;) {
    uint64_t c = claim_.load(std::memory_order_relaxed);
    do {
      if ((c & ~0xffffffffull) != tag || static_cast<int64_t>(c & 0xffffffffull) >= job.pieces) return;
    } while (!claim_.compare_exchange_weak(c, c + 1, std::memory_order_acquire, std::memory_order_relaxed));
    const int64_t begin = static_cast<int64_t>(c & 0xffffffffull) * job.grain;
    (*job.fn)(begin, std::min(begin + job.grain, job.n));
    if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == job.pieces) {
      std::lock_guard<std::mutex> lock(mu_);
      done_cv_.notify_one();
    }
  }
}

void ThreadPool::WorkerLoop() {
  uint32_t seen = 0;
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      start_cv_.wait(lock, [&] { return stop_ || job_.generation != seen; });
      if (stop_) return;
      job = job_;
      seen = job.generation;
    }
    RunPieces(job);
  }
}

void ThreadPool::ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  grain = std::max<int64_t>(grain, 1);
  if (workers_.empty() || n <= grain) {
    for (int64_t b = 0; b < n; b += grain) fn(b, std::min(b + grain, n));
    return;
  }
  Job job;
  {
    std::lock_guard<std::mutex> lock(mu_);
    job = {.fn = &fn,
           .n = n,
           .grain = grain,
           .pieces = (n + grain - 1) / grain,
           .generation = job_.generation + 1};
    job_ = job;
    done_.store(0, std::memory_order_relaxed);
    claim_.store(static_cast<uint64_t>(job.generation) << 32, std::memory_order_release);
  }
  start_cv_.notify_all();
  RunPieces(job);
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [&] { return done_.load(std::memory_order_acquire) == job.pieces; });
}

LL_KERNEL float Dot(const float* a, const float* b, int64_t n) {
  float out;
  Tile<1, 1>(a, b, n, &out);
  return out;
}

void Matmul(ThreadPool& pool, const float* w, const float* x, float* y, int64_t in, int64_t out,
            int64_t tokens) {
  // Pieces of whole 4-row blocks, about eight per thread, and none under
  // kMinPieceMacs multiply-adds: waking a thread costs microseconds.
  const int64_t per_piece = std::max({int64_t{4}, (out / (8 * pool.threads()) + 3) / 4 * 4,
                                      (kMinPieceMacs / std::max<int64_t>(1, in * tokens) + 3) / 4 * 4});
  pool.ParallelFor(out, per_piece,
                   [&](int64_t begin, int64_t end) { MatmulRows(w, x, y, in, out, tokens, begin, end); });
}

void RmsNorm(const float* x, const float* weight, float eps, int64_t n, float* out) {
  const float inv = 1.0f / std::sqrt(Dot(x, x, n) / static_cast<float>(n) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = weight[i] * (x[i] * inv);
}

void Rope(float* v, int64_t d, const float* cos, const float* sin) {
  const int64_t half = d / 2;
  for (int64_t i = 0; i < half; ++i) {
    const float a = v[i], b = v[i + half];
    v[i] = a * cos[i] - b * sin[i];
    v[i + half] = b * cos[i] + a * sin[i];
  }
}

void RopeAngles(int64_t position, int64_t d, double theta, float* cos, float* sin) {
  for (int64_t i = 0; i < d / 2; ++i) {
    const double angle = static_cast<double>(position) * std::pow(theta, -2.0 * static_cast<double>(i) / d);
    cos[i] = static_cast<float>(std::cos(angle));
    sin[i] = static_cast<float>(std::sin(angle));
  }
}

}  // namespace lightloop::workloads::internal
