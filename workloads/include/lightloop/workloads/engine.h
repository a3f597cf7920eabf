// SPDX-License-Identifier: Apache-2.0
// The serving engine: continuous batching at iteration level over
// memory_offload's paged KV cache, the same on every target and in both
// modes. Each step it
//   1. lets in the requests that have arrived (on the run's clock);
//   2. keeps the running set's KV in the local tier (its sequences are
//      active in the KV cache: nothing evicts their blocks) and, when the
//      running set would outgrow the local budget (the low watermark),
//      preempts the latest admitted sequence: by offload (its blocks are
//      written to the remote tier and leave the local one; it resumes with a
//      fetch started one step ahead, so the transfer overlaps a step of
//      compute) or by recomputation (its KV is dropped and its prompt plus
//      what it generated is prefilled again);
//   3. fills a token budget: one token for each decoding sequence, then
//      prefill chunks of at most `prefill_chunk` tokens, then new requests
//      admitted first come first served while their KV fits;
//   4. computes the batch through a StepExecutor: the functional model
//      (real arithmetic, llama.h) or shape mode (the accelerator roofline);
//   5. lets the step's time pass: in virtual time by the accelerator model's
//      time (the simulation moves transfers on meanwhile), on the wall clock
//      by computing (functional) or by waiting that long (shape).
//
// Prompts are made of token ids derived from the request: a trace's
// hash_ids name 512-token prefix blocks, so requests with the same hash_ids
// start with the same tokens and share KV blocks through the prefix cache
// (blocks are named by a chained hash of their tokens). Lost or late blocks
// (checksum failures, a prefetch not waited for) are recomputed, so the
// generated tokens do not depend on the target.
//
//   Engine engine(options, kv.get(), &executor, clock);
//   LL_ASSIGN_OR_RETURN(EngineResult r, engine.Run(requests));
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "lightloop/memory_offload/kv_block_manager.h"
#include "lightloop/memory_offload/weight_streamer.h"
#include "lightloop/runtime/status.h"
#include "lightloop/workloads/metrics.h"
#include "lightloop/workloads/trace.h"

namespace lightloop::workloads {

enum class Preemption { kOffload, kRecompute };
runtime::StatusOr<Preemption> ParsePreemption(const std::string& name);

// How a sequence preempted by offload comes back:
//   - kAhead: its fetch starts a step ahead (StartFetch), flies during that
//     step's compute, and it joins the next step (FinishFetch first);
//   - kLayered: it joins the step its fetch starts in, which waits for
//     each layer of its KV just before computing that layer (WaitLayer), so
//     layer l computes while later layers are on the wire. Under the
//     block_major layout a layer arrives with its whole block: the first
//     layer waits for all of it. A layer lost or not waited for (the
//     prefetch policy) voids the sequence's part of the step: it is
//     computed again next step, after what was lost is recomputed.
enum class SwapIn { kAhead, kLayered };
runtime::StatusOr<SwapIn> ParseSwapIn(const std::string& name);

// When a sequence's KV goes to the remote tier:
//   - kOnEvict: only when eviction or preemption takes it out;
//   - kAfterPrefill: also as soon as the step that completes its prompt
//     computes it, layer by layer (OffloadLayer after each layer, so the
//     writes overlap the step's later layers): a later preemption or
//     eviction then writes nothing, and the prompt's blocks are in the
//     remote tier for the prefix cache. A sequence swapping in that step
//     does not write back.
enum class WriteBack { kOnEvict, kAfterPrefill };
runtime::StatusOr<WriteBack> ParseWriteBack(const std::string& name);

// One step, for traces: times on the run's clock from its start.
struct StepTrace {
  uint64_t start_ns = 0;    // the step began (fetches it waited for included)
  uint64_t end_ns = 0;      // its tokens came out
  uint64_t compute_ns = 0;  // the accelerator model's time for it
  uint32_t tokens = 0, seqs = 0, running = 0, waiting = 0;
  uint64_t bytes_offloaded = 0, bytes_fetched = 0;  // so far
};

struct EngineOptions {
  uint32_t max_batch_tokens = 2048;  // tokens computed per step
  uint32_t max_seqs = 256;           // sequences running at once
  uint32_t prefill_chunk = 512;      // prompt tokens of one sequence per step
  Preemption preemption = Preemption::kOffload;
  SwapIn swap_in = SwapIn::kAhead;
  WriteBack write_back = WriteBack::kOnEvict;
  memory_offload::Prefetch prefetch = memory_offload::Prefetch::kWaitComplete;
  uint64_t prefetch_budget_ns = 0;  // Prefetch::kTimeout
  bool prefix_cache = true;
  int64_t vocab = 32000;              // token ids of synthetic prompts are below it
  uint32_t trace_block_tokens = 512;  // tokens per hash_id
  // Time series: one sample at most this often (run clock).
  uint64_t sample_every_ns = 100'000'000;
  // Polled between steps: true stops the run; what finished is reported.
  std::function<bool()> cancelled;
  // Called after each step with what it did (traces); may be empty.
  std::function<void(const StepTrace&)> on_step;
  // Called after each step with the requests done so far and the total.
  std::function<void(uint64_t done, uint64_t total, uint64_t now_ns)> progress;
};

// The run's clock: runtime::Clock of the client (virtual on sim, wall on a NIC).
struct EngineClock {
  std::function<uint64_t()> now_ns;
  std::function<void(uint64_t)> advance_ns;
  bool is_virtual = false;
};

// One sequence's part of a step: compute tokens [start_pos, start_pos +
// tokens.size()) over the KV of positions before them.
struct StepItem {
  uint64_t request_id = 0;
  const int32_t* tokens = nullptr;
  size_t count = 0;
  int64_t start_pos = 0;
  bool emits = false;                  // the last token's logits give the sequence's next token
  std::vector<unsigned char*> blocks;  // the sequence's KV blocks, all resident
};

struct StepOutput {
  std::vector<int32_t> tokens;  // one for each item that emits, in order
  uint64_t modelled_ns = 0;     // the accelerator model's time for the step
};

// Called by StepExecutor::Run before each layer is computed, with the
// layer, the model's layer count and the step's modelled time; an error
// ends the step with it. It returns the layer's weights when it streams
// them (LlamaModel::LayerWeights' layout), valid until the layer is
// computed, or null: the executor's own (an executor that does no
// arithmetic ignores them).
using LayerHook =
    std::function<runtime::StatusOr<const void*>(int64_t layer, int64_t layers, uint64_t step_ns)>;

class StepExecutor {
 public:
  virtual ~StepExecutor() = default;
  // Computes a step. `items` of one sequence appear at most once. A
  // non-empty `before_layer` is called before each layer, in order, layer 0
  // first (the KV of an item's blocks need only hold layer l once it
  // returns for l).
  virtual runtime::StatusOr<StepOutput> Run(const std::vector<StepItem>& items,
                                            const LayerHook& before_layer) = 0;
  runtime::StatusOr<StepOutput> Run(const std::vector<StepItem>& items) { return Run(items, {}); }
  // True when Run does the arithmetic (its wall time is the compute time);
  // false when only the model's time stands for it.
  virtual bool computes() const = 0;
};

struct SeriesSample {
  uint64_t t_ns = 0;  // since the run began
  uint32_t running = 0, waiting = 0, batch_tokens = 0;
  uint64_t local_blocks = 0, remote_blocks = 0;
  uint64_t bytes_offloaded = 0, bytes_fetched = 0;  // so far
  uint64_t tokens_out = 0;                          // so far
};

struct EngineResult {
  std::vector<RequestTimes> times;            // in request order, times from the run's start
  std::vector<std::vector<int32_t>> outputs;  // generated token ids, in request order
  uint64_t steps = 0, preemptions = 0, recomputed_tokens = 0, rejected = 0;
  // SwapIn::kLayered: sequences that joined a step as their fetch started,
  // and those whose part of it was void (a layer lost or not waited for).
  uint64_t layered_swap_ins = 0, voided_swap_ins = 0;
  // WriteBack::kAfterPrefill: prompts written back as their prefill ended.
  uint64_t prefill_write_backs = 0;
  uint64_t compute_ns = 0;  // modelled
  uint64_t elapsed_ns = 0;  // run clock
  memory_offload::KvStats kv;
  // Layer weights streamed from the remote tier (Engine's `weights`): what
  // was fetched and how long steps waited for it; zero when resident.
  memory_offload::WeightStats weights;
  std::vector<SeriesSample> series;
  bool interrupted = false;
};

class Engine {
 public:
  // `kv` and `executor` must outlive the engine; the KV shape's block_tokens
  // is the page size. With `weights`, the model's layer weights live in
  // the remote tier: before each layer of every step the engine takes the
  // layer's from the streamer (waiting only if they have not landed, the
  // next layers flying meanwhile) and hands them to the executor; the
  // streamer's layers are the model's.
  Engine(const EngineOptions& options, memory_offload::KvBlockManager* kv, StepExecutor* executor,
         EngineClock clock, memory_offload::WeightStreamer* weights = nullptr);
  runtime::StatusOr<EngineResult> Run(const std::vector<Request>& requests);

 private:
  EngineOptions o_;
  memory_offload::KvBlockManager* kv_;
  StepExecutor* exec_;
  EngineClock clock_;
  memory_offload::WeightStreamer* weights_;
};

// The prompt token ids of `r`, `vocab` ids, `block` tokens per hash_id.
std::vector<int32_t> PromptTokens(const Request& r, int64_t vocab, uint32_t block);
// The token a shape-mode step emits for request `id` at `position`.
int32_t ShapeToken(uint64_t id, uint64_t position, int64_t vocab);

}  // namespace lightloop::workloads
