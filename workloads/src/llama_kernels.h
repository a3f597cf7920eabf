// SPDX-License-Identifier: Apache-2.0
// The arithmetic of the functional mode (private to lightloop_workloads): a
// thread pool, the dot product every sum goes through, the batched matrix
// product, RMSNorm and the rotary embedding.
//
// The dot product has one fixed order, whatever the caller: lane l (0..7)
// sums a[i] * b[i] for i = l (mod 8) in ascending i, and the lanes are
// combined as ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)). Matmul
// computes every output with exactly that order, so a token's result does
// not depend on the tokens beside it or on the thread that computes it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace lightloop::workloads::internal {

// Runs fn(begin, end) over pieces of [0, n) on the calling thread and
// threads - 1 workers; pieces are claimed dynamically, each runs once. The
// caller waits for the pieces, not for the workers: on a busy machine a
// worker that has not woken up yet costs nothing.
class ThreadPool {
 public:
  explicit ThreadPool(int threads);  // 0: hardware_concurrency
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }
  // Returns when every piece is done. Not reentrant: one caller at a time.
  void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  struct Job {
    const std::function<void(int64_t, int64_t)>* fn = nullptr;
    int64_t n = 0, grain = 1, pieces = 0;
    uint32_t generation = 0;
  };
  void WorkerLoop();
  void RunPieces(const Job& job);

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable start_cv_, done_cv_;
  Job job_;            // guarded by mu_: the current job, its generation one per ParallelFor
  bool stop_ = false;  // guarded by mu_
  // The current generation (high 32 bits) and its next piece (low 32 bits):
  // a worker holding an older job can claim nothing.
  std::atomic<uint64_t> claim_{0};
  std::atomic<int64_t> done_{0};  // pieces of the current job finished
};

// The least work worth a piece of its own in ParallelFor, in multiply-adds
// (about 10 us on one core).
inline constexpr int64_t kMinPieceMacs = 64 * 1024;

float Dot(const float* a, const float* b, int64_t n);

// y[t * out + r] = Dot(w + r * in, x + t * in, in) for every token t < tokens
// and output row r < out (w is [out][in] row-major, as a PyTorch Linear).
void Matmul(ThreadPool& pool, const float* w, const float* x, float* y, int64_t in, int64_t out,
            int64_t tokens);

// out = x / sqrt(Dot(x, x) / n + eps) * weight, as Hugging Face's LlamaRMSNorm.
void RmsNorm(const float* x, const float* weight, float eps, int64_t n, float* out);

// Rotates one head in place (rotate_half: element i pairs with i + d / 2).
// cos and sin hold d / 2 values for the token's position.
void Rope(float* v, int64_t d, const float* cos, const float* sin);
// cos and sin of position * theta^(-2i / d), i < d / 2.
void RopeAngles(int64_t position, int64_t d, double theta, float* cos, float* sin);

}  // namespace lightloop::workloads::internal
