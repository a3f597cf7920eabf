// SPDX-License-Identifier: Apache-2.0
#include "lightloop/workloads/engine.h"

#include <algorithm>
#include <deque>
#include <memory>
#include <utility>

#include "splitmix64.h"

namespace lightloop::workloads {
namespace {

namespace rt = lightloop::runtime;
namespace mo = lightloop::memory_offload;

// One splitmix64 output from the state `x`: a hash of x.
uint64_t Mix(uint64_t x) {
  return SplitMix64(x);
}

enum class State { kWaiting, kSwappedOut, kSwappingIn, kRunning, kDone };

struct Seq {
  size_t index = 0;  // in the request list
  const Request* request = nullptr;
  State state = State::kWaiting;
  mo::SequenceId kv = 0;         // 0: none yet
  std::vector<int32_t> tokens;   // prompt, then what was generated
  std::vector<uint64_t> hashes;  // prefix hash of each full prompt block that may be shared
  uint64_t cached = 0;           // tokens whose K and V are in the cache
  uint64_t prompt = 0;           // tokens of the request's prompt
  uint64_t fetch = 0;            // StartFetch ticket while swapping in
  uint64_t fetch_waited_ns = 0;  // SwapIn::kLayered: waited for its layers so far (the timeout's budget)
  bool void_step = false;        // SwapIn::kLayered: a layer of its KV was lost or late this step
  bool writes_back = false;      // WriteBack::kAfterPrefill: its prompt's KV goes out this step
  bool name_later = false;       // SwapIn::kLayered: swapping in this step, its new blocks named after it
  uint64_t blocks_before = 0;    // ...and how many it had before the step appended any
  uint64_t want = 0;             // tokens this step
  bool admitted = false;
};

uint64_t Blocks(uint64_t tokens, uint64_t bt) {
  return (tokens + bt - 1) / bt;
}

}  // namespace

rt::StatusOr<Preemption> ParsePreemption(const std::string& name) {
  if (name == "offload") return Preemption::kOffload;
  if (name == "recompute") return Preemption::kRecompute;
  return rt::InvalidArgument("preemption '" + name + "' is not one of: offload, recompute");
}

rt::StatusOr<SwapIn> ParseSwapIn(const std::string& name) {
  if (name == "ahead") return SwapIn::kAhead;
  if (name == "layered") return SwapIn::kLayered;
  return rt::InvalidArgument("swap_in '" + name + "' is not one of: ahead, layered");
}

rt::StatusOr<WriteBack> ParseWriteBack(const std::string& name) {
  if (name == "on_evict") return WriteBack::kOnEvict;
  if (name == "after_prefill") return WriteBack::kAfterPrefill;
  return rt::InvalidArgument("write_back '" + name + "' is not one of: on_evict, after_prefill");
}

std::vector<int32_t> PromptTokens(const Request& r, int64_t vocab, uint32_t block) {
  std::vector<int32_t> t(std::max<uint32_t>(r.input_tokens, 1));
  for (uint64_t p = 0; p < t.size(); ++p) {
    uint64_t b = p / block;
    uint64_t seed = b < r.hash_ids.size() ? Mix(r.hash_ids[b] ^ 0x5eedull) : Mix(r.id ^ 0xa11ceull) + b;
    t[p] = static_cast<int32_t>(Mix(seed + p % block) % static_cast<uint64_t>(vocab));
  }
  return t;
}

int32_t ShapeToken(uint64_t id, uint64_t position, int64_t vocab) {
  return static_cast<int32_t>(Mix(Mix(id) + position) % static_cast<uint64_t>(vocab));
}

Engine::Engine(const EngineOptions& options, mo::KvBlockManager* kv, StepExecutor* executor,
               EngineClock clock, mo::WeightStreamer* weights)
    : o_(options), kv_(kv), exec_(executor), clock_(std::move(clock)), weights_(weights) {}

rt::StatusOr<EngineResult> Engine::Run(const std::vector<Request>& requests) {
  const mo::KvBlockManager::Options& ko = kv_->options();
  const uint64_t bt = static_cast<uint64_t>(ko.shape.block_tokens);
  // The running set's blocks must fit below the low watermark, so that
  // eviction always finds blocks outside it.
  const uint64_t budget_blocks =
      std::max<uint64_t>(1, static_cast<uint64_t>(ko.low_watermark * static_cast<double>(ko.local_blocks)));
  if (o_.max_batch_tokens == 0 || o_.max_seqs == 0 || o_.prefill_chunk == 0) {
    return rt::InvalidArgument("engine: max_batch_tokens, max_seqs and prefill_chunk must be positive");
  }

  EngineResult res;
  res.times.resize(requests.size());
  res.outputs.resize(requests.size());
  std::vector<Seq> seqs(requests.size());
  std::vector<size_t> order(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return requests[a].arrival_s < requests[b].arrival_s; });

  const uint64_t t0 = clock_.now_ns();
  auto now = [&] { return clock_.now_ns() - t0; };
  for (size_t i = 0; i < requests.size(); ++i) {
    seqs[i].index = i;
    seqs[i].request = &requests[i];
    res.times[i].arrival_ns = static_cast<uint64_t>(std::max(0.0, requests[i].arrival_s) * 1e9);
  }

  size_t next_arrival = 0;
  std::deque<size_t> waiting;   // by arrival; preempted ones go to the front
  std::vector<size_t> running;  // in admission order (includes swapping in)
  uint64_t done = 0, tokens_out = 0, last_sample = UINT64_MAX;

  auto output_len = [&](const Seq& s) { return std::max<uint32_t>(s.request->output_tokens, 1); };
  auto finish = [&](Seq& s) -> rt::Status {
    if (s.kv != 0) LL_RETURN_IF_ERROR(kv_->Free(s.kv));
    s.kv = 0;
    s.state = State::kDone;
    s.tokens.clear();
    s.tokens.shrink_to_fit();
    s.hashes.clear();
    ++done;
    return rt::Status::Ok();
  };
  // The KV blocks a sequence holds after computing `extra` more tokens.
  auto blocks_after = [&](const Seq& s, uint64_t extra) { return Blocks(s.cached + extra, bt); };
  // Takes the sequence out of the running set.
  auto preempt = [&](Seq& s) -> rt::Status {
    ++res.preemptions;
    ++res.times[s.index].preemptions;
    if (s.state == State::kSwappingIn) {
      LL_ASSIGN_OR_RETURN(mo::FetchOutcome out, kv_->FinishFetch(s.fetch, mo::Prefetch::kWaitComplete));
      (void)out;  // whatever arrived or not, the sequence leaves the local tier again
    }
    LL_RETURN_IF_ERROR(kv_->SetActive(s.kv, false));
    if (o_.preemption == Preemption::kOffload) {
      LL_RETURN_IF_ERROR(kv_->EvictSequence(s.kv));
      s.state = State::kSwappedOut;
    } else {
      LL_RETURN_IF_ERROR(kv_->Free(s.kv));
      s.kv = 0;
      s.cached = 0;
      s.state = State::kWaiting;
    }
    waiting.push_front(s.index);
    return rt::Status::Ok();
  };
  // Recomputes the tokens of `s` from block `first` up to what is cached.
  auto recompute_from = [&](Seq& s, uint64_t first_block) -> rt::Status {
    uint64_t from = first_block * bt;
    if (from >= s.cached) return rt::Status::Ok();
    const std::vector<mo::BlockId>& table = kv_->BlockTable(s.kv);
    StepItem item{.request_id = s.request->id,
                  .tokens = s.tokens.data() + from,
                  .count = s.cached - from,
                  .start_pos = static_cast<int64_t>(from)};
    for (mo::BlockId b : table) {
      LL_ASSIGN_OR_RETURN(unsigned char* p, kv_->Data(b));
      item.blocks.push_back(p);
    }
    LL_ASSIGN_OR_RETURN(StepOutput out, exec_->Run({item}));
    res.recomputed_tokens += item.count;
    res.compute_ns += out.modelled_ns;
    if (clock_.is_virtual || !exec_->computes()) clock_.advance_ns(out.modelled_ns);
    // Up to what is cached: blocks a voided step appended hold nothing yet.
    const uint64_t last = std::min<uint64_t>(table.size(), Blocks(s.cached, bt));
    for (uint64_t k = first_block; k < last; ++k) LL_RETURN_IF_ERROR(kv_->MarkWritten(table[k]));
    return rt::Status::Ok();
  };
  // The blocks this step computes into for `s` hold their tokens now.
  auto mark_step_written = [&](const Seq& s) -> rt::Status {
    const std::vector<mo::BlockId>& table = kv_->BlockTable(s.kv);
    for (uint64_t b = s.cached / bt; b < Blocks(s.cached + s.want, bt); ++b) {
      LL_RETURN_IF_ERROR(kv_->MarkWritten(table[b]));
    }
    return rt::Status::Ok();
  };
  // What is left of the prefetch policy's budget for the fetch of `s`.
  auto budget_left = [&](const Seq& s) -> uint64_t {
    return o_.prefetch_budget_ns > s.fetch_waited_ns ? o_.prefetch_budget_ns - s.fetch_waited_ns : 0;
  };
  auto first_of = [&](const Seq& s, const std::vector<mo::BlockId>& blocks) {
    const std::vector<mo::BlockId>& table = kv_->BlockTable(s.kv);
    uint64_t first = table.size();
    for (mo::BlockId b : blocks) {
      for (uint64_t k = 0; k < table.size(); ++k) {
        if (table[k] == b) first = std::min(first, k);
      }
    }
    return first;
  };

  while (done < requests.size()) {
    if (o_.cancelled && o_.cancelled()) {
      res.interrupted = true;
      break;
    }
    uint64_t t = now();
    while (next_arrival < order.size() && res.times[order[next_arrival]].arrival_ns <= t) {
      waiting.push_back(order[next_arrival++]);
    }
    if (running.empty() && waiting.empty()) {
      if (next_arrival >= order.size()) break;
      clock_.advance_ns(res.times[order[next_arrival]].arrival_ns - t);
      continue;
    }

    // Sequences whose fetch was started last step join the running set.
    for (size_t i : running) {
      Seq& s = seqs[i];
      if (s.state != State::kSwappingIn) continue;
      LL_ASSIGN_OR_RETURN(mo::FetchOutcome out,
                          kv_->FinishFetch(s.fetch, o_.prefetch, o_.prefetch_budget_ns));
      s.state = State::kRunning;
      std::vector<mo::BlockId> redo = out.lost;
      redo.insert(redo.end(), out.not_arrived.begin(), out.not_arrived.end());
      if (!redo.empty()) LL_RETURN_IF_ERROR(recompute_from(s, first_of(s, redo)));
    }

    // The running set and its growth must fit: preempt from the back.
    uint64_t tokens_left = o_.max_batch_tokens;
    auto plan = [&](const Seq& s) -> uint64_t {
      uint64_t rest = s.tokens.size() - s.cached;
      return std::min<uint64_t>({rest, o_.prefill_chunk, tokens_left});
    };
    // As many of the planned tokens of `s` as its blocks' growth lets fit
    // (held <= budget_blocks here), at least one.
    uint64_t held = 0;
    auto fit = [&](const Seq& s) -> uint64_t {
      uint64_t n = plan(s);
      if (held + blocks_after(s, n) - blocks_after(s, 1) > budget_blocks) {
        n = std::max<uint64_t>(
            1, std::min(n, (budget_blocks - held + Blocks(s.cached + 1, bt)) * bt - s.cached));
      }
      return n;
    };
    for (size_t i : running) held += blocks_after(seqs[i], 1);
    while (held > budget_blocks && running.size() > 1) {
      Seq& s = seqs[running.back()];
      held -= blocks_after(s, 1);
      running.pop_back();
      LL_RETURN_IF_ERROR(preempt(s));
    }
    // Decodes first, then prefill chunks.
    std::vector<size_t> batch;
    for (int pass = 0; pass < 2; ++pass) {
      for (size_t i : running) {
        Seq& s = seqs[i];
        if (s.state != State::kRunning || tokens_left == 0) continue;
        const bool decoding = s.tokens.size() - s.cached == 1;
        if (decoding != (pass == 0)) continue;
        const uint64_t n = fit(s);
        held += blocks_after(s, n) - blocks_after(s, 1);
        s.want = n;
        tokens_left -= n;
        batch.push_back(i);
      }
    }
    // Admission, first come first served while the KV fits.
    while (!waiting.empty() && running.size() < o_.max_seqs) {
      Seq& s = seqs[waiting.front()];
      if (s.state == State::kWaiting && s.tokens.empty()) {
        s.tokens = PromptTokens(*s.request, o_.vocab, o_.trace_block_tokens);
        s.prompt = s.tokens.size();
        if (o_.prefix_cache) {
          // Full blocks before the last prompt token (which is always
          // computed), within the part of the prompt the trace says others
          // may share (its hash_ids): the rest is this request's own.
          const uint64_t shareable = std::min<uint64_t>(
              s.tokens.size() - 1, s.request->hash_ids.size() * static_cast<uint64_t>(o_.trace_block_tokens));
          uint64_t h = 0x1ce5eedull;
          for (uint64_t b = 0; (b + 1) * bt <= shareable; ++b) {
            for (uint64_t p = b * bt; p < (b + 1) * bt; ++p) h = Mix(h ^ static_cast<uint32_t>(s.tokens[p]));
            s.hashes.push_back(h | 1);
          }
        }
      }
      const uint64_t total_blocks = Blocks(s.prompt + output_len(s), bt);
      if (total_blocks > budget_blocks) {  // can never run here
        waiting.pop_front();
        ++res.rejected;
        LL_RETURN_IF_ERROR(finish(s));
        continue;
      }
      if (s.state == State::kSwappedOut) {
        uint64_t need = blocks_after(s, 1);
        // Not while a block it shares is being fetched for another sequence.
        if (held + need > budget_blocks || kv_->Arriving(s.kv)) break;
        LL_RETURN_IF_ERROR(kv_->SetActive(s.kv, true));
        // Layered, a step that gives up waiting (best_effort, timeout) still
        // writes its new tokens into the sequence's last block: reads land
        // in staging then, so one landing after that cannot spoil a check.
        const bool layered = o_.swap_in == SwapIn::kLayered && tokens_left > 0;
        LL_ASSIGN_OR_RETURN(s.fetch,
                            kv_->StartFetch(s.kv, !layered || o_.prefetch == mo::Prefetch::kWaitComplete));
        s.state = State::kSwappingIn;
        held += need;
        running.push_back(waiting.front());
        waiting.pop_front();
        if (layered) {
          // Joins this step; its layers are waited for one by one.
          s.fetch_waited_ns = 0;
          s.void_step = false;
          const uint64_t n = fit(s);
          held += blocks_after(s, n) - need;
          s.want = n;
          tokens_left -= n;
          batch.push_back(s.index);
          ++res.layered_swap_ins;
        }
        continue;
      }
      if (tokens_left == 0) break;
      // Leading blocks whose tokens someone computed already (prefix hits).
      uint64_t hits = 0;
      if (s.kv == 0) {
        // A block being fetched for another sequence is not taken up yet.
        while (hits < s.hashes.size() && kv_->HasPrefix(s.hashes[hits]) &&
               !kv_->PrefixArriving(s.hashes[hits])) {
          ++hits;
        }
      }
      const uint64_t from = s.kv == 0 ? hits * bt : s.cached;
      uint64_t n = std::min<uint64_t>({s.tokens.size() - from, o_.prefill_chunk, tokens_left});
      if (held + Blocks(from + n, bt) > budget_blocks) break;
      if (s.kv == 0) {
        s.kv = kv_->NewSequence();
        for (uint64_t k = 0; k < hits; ++k) {
          LL_ASSIGN_OR_RETURN(mo::AppendResult a, kv_->AppendBlock(s.kv, s.hashes[k]));
          if (!a.prefix_hit) return rt::Internal("engine: a prefix block vanished during admission");
        }
        s.cached = from;
        // The hits may be in the remote tier; from now on nothing evicts them.
        LL_RETURN_IF_ERROR(kv_->SetActive(s.kv, true));
        LL_ASSIGN_OR_RETURN(std::vector<mo::BlockId> lost, kv_->Fetch(s.kv));
        if (!lost.empty()) LL_RETURN_IF_ERROR(recompute_from(s, first_of(s, lost)));
      }
      if (!s.admitted) {
        s.admitted = true;
        res.times[s.index].scheduled_ns = t;
      }
      s.state = State::kRunning;
      held += blocks_after(s, n);
      s.want = n;
      tokens_left -= n;
      batch.push_back(s.index);
      running.push_back(waiting.front());
      waiting.pop_front();
    }

    std::vector<StepItem> items;
    uint32_t batch_tokens = 0;
    for (size_t i : batch) {
      Seq& s = seqs[i];
      const uint64_t n = s.want;
      // Blocks for the new tokens; full prompt blocks carry their prefix hash.
      s.blocks_before = kv_->BlockTable(s.kv).size();
      s.name_later = s.state == State::kSwappingIn;
      while (kv_->BlockTable(s.kv).size() < Blocks(s.cached + n, bt)) {
        uint64_t b = kv_->BlockTable(s.kv).size();
        // A block is named by its prefix hash only when this step computes
        // all of it and nobody else has: a partly computed block must never
        // be found by another sequence, and two sequences never write one
        // block in the same step.
        uint64_t h = b < s.hashes.size() && (b + 1) * bt <= s.cached + n ? s.hashes[b] : 0;
        // A sequence swapping in may void its step: its blocks are named
        // once the step is through (NamePrefix).
        if (kv_->HasPrefix(h) || s.state == State::kSwappingIn) h = 0;
        LL_ASSIGN_OR_RETURN(mo::AppendResult a, kv_->AppendBlock(s.kv, h));
        (void)a;
      }
      StepItem item{.request_id = s.request->id,
                    .tokens = s.tokens.data() + s.cached,
                    .count = n,
                    .start_pos = static_cast<int64_t>(s.cached),
                    .emits = s.cached + n == s.tokens.size()};
      if (exec_->computes()) {
        for (mo::BlockId b : kv_->BlockTable(s.kv)) {
          // Swapping in: the kernel reads layer l once the hook waited for it.
          LL_ASSIGN_OR_RETURN(unsigned char* p, s.state == State::kSwappingIn ? kv_->Place(b) : kv_->Data(b));
          item.blocks.push_back(p);
        }
      }
      batch_tokens += static_cast<uint32_t>(n);
      items.push_back(std::move(item));
    }
    if (items.empty()) {
      if (done >= requests.size()) break;  // the last ones were rejected
      // Nothing could run: only sequences swapping in, or waiting on arrivals.
      if (running.empty() && next_arrival < order.size()) {
        clock_.advance_ns(res.times[order[next_arrival]].arrival_ns - t);
      } else if (running.empty()) {
        return rt::Internal("engine: " + std::to_string(waiting.size()) +
                            " requests wait but none can be admitted");
      }
      continue;
    }

    // Sequences swapping in within this step (SwapIn::kLayered): before
    // each layer computes, the layers of their KV it needs are waited for,
    // after the previous layer's share of the step's time has passed.
    // Sequences whose prompt this step completes (WriteBack::kAfterPrefill):
    // the blocks it writes are marked written before it computes, and each
    // layer of their KV is written back once computed.
    std::vector<size_t> arriving, writing;
    for (size_t i : batch) {
      Seq& s = seqs[i];
      if (s.state == State::kSwappingIn) {
        arriving.push_back(i);
      } else if (o_.write_back == WriteBack::kAfterPrefill && s.cached < s.prompt &&
                 s.cached + s.want >= s.prompt) {
        s.writes_back = true;
        writing.push_back(i);
        LL_RETURN_IF_ERROR(mark_step_written(s));
      }
    }
    res.prefill_write_backs += writing.size();
    const bool time_passes = clock_.is_virtual || !exec_->computes();
    const int64_t kv_layers = ko.shape.layers;
    uint64_t passed_ns = 0;
    int64_t kv_layers_waited = 0, kv_layers_written = 0;
    // Writes back the KV layers before `upto` not written yet. A remote
    // tier with no room leaves the blocks local, as eviction would find them.
    auto write_back = [&](int64_t upto) -> rt::Status {
      for (; kv_layers_written < upto; ++kv_layers_written) {
        for (size_t i : writing) {
          rt::Status st = kv_->OffloadLayer(seqs[i].kv, kv_layers_written);
          if (!st.ok() && st.code() != rt::StatusCode::kResourceExhausted) return st;
        }
      }
      return rt::Status::Ok();
    };
    LayerHook before_layer;
    if (!arriving.empty() || !writing.empty() || weights_ != nullptr) {
      before_layer = [&](int64_t layer, int64_t layers, uint64_t step_ns) -> rt::StatusOr<const void*> {
        if (layer > 0 && time_passes) {
          clock_.advance_ns(step_ns / static_cast<uint64_t>(layers));
          passed_ns += step_ns / static_cast<uint64_t>(layers);
        }
        // Between layers the host drives the transfers in flight (on the
        // wall clock shm and tcp move bytes only when polled).
        if (layer > 0) {
          LL_RETURN_IF_ERROR(kv_->Progress());
          if (weights_ != nullptr) LL_RETURN_IF_ERROR(weights_->Progress());
        }
        // The KV layers that model layers [0, layer) computed, and those
        // that [0, layer] need (the same layers when the KV shape is the
        // model's).
        LL_RETURN_IF_ERROR(write_back(std::min(kv_layers, layer * kv_layers / layers)));
        const int64_t upto = std::min(kv_layers, ((layer + 1) * kv_layers + layers - 1) / layers);
        for (; kv_layers_waited < upto; ++kv_layers_waited) {
          for (size_t i : arriving) {
            Seq& s = seqs[i];
            if (s.void_step) continue;
            LL_ASSIGN_OR_RETURN(mo::FetchOutcome lo,
                                kv_->WaitLayer(s.fetch, kv_layers_waited, o_.prefetch, budget_left(s)));
            s.fetch_waited_ns += lo.waited_ns;
            if (!lo.lost.empty() || !lo.not_arrived.empty()) s.void_step = true;
          }
        }
        if (weights_ == nullptr) return static_cast<const void*>(nullptr);
        // The layer's weights (the following layers' start on their way).
        LL_ASSIGN_OR_RETURN(const unsigned char* w, weights_->Acquire(layer));
        return static_cast<const void*>(w);
      };
    }
    LL_ASSIGN_OR_RETURN(StepOutput out, exec_->Run(items, before_layer));
    ++res.steps;
    res.compute_ns += out.modelled_ns;
    if (time_passes) clock_.advance_ns(out.modelled_ns - std::min(passed_ns, out.modelled_ns));
    LL_RETURN_IF_ERROR(write_back(kv_layers));
    for (size_t i : arriving) {
      Seq& s = seqs[i];
      LL_ASSIGN_OR_RETURN(mo::FetchOutcome fo, kv_->FinishFetch(s.fetch, o_.prefetch, budget_left(s)));
      s.state = State::kRunning;
      std::vector<mo::BlockId> redo = fo.lost;
      redo.insert(redo.end(), fo.not_arrived.begin(), fo.not_arrived.end());
      if (!redo.empty()) s.void_step = true;
      if (s.void_step) {
        ++res.voided_swap_ins;
        if (!redo.empty()) LL_RETURN_IF_ERROR(recompute_from(s, first_of(s, redo)));
      }
    }
    LL_RETURN_IF_ERROR(kv_->Progress());
    const uint64_t t_end = now();

    size_t emitted = 0;
    std::vector<size_t> finished;
    for (size_t k = 0; k < batch.size(); ++k) {
      Seq& s = seqs[batch[k]];
      if (s.void_step) {  // computed over KV that was not there: again next step
        s.void_step = false;
        s.name_later = false;
        if (items[k].emits) ++emitted;
        continue;
      }
      const uint64_t n = s.want;
      // A prompt written back this step was marked written before it computed.
      if (!std::exchange(s.writes_back, false)) LL_RETURN_IF_ERROR(mark_step_written(s));
      const std::vector<mo::BlockId>& table = kv_->BlockTable(s.kv);
      if (std::exchange(s.name_later, false)) {
        for (uint64_t b = s.blocks_before; b < table.size() && b < s.hashes.size(); ++b) {
          const uint64_t h = s.hashes[b];
          if ((b + 1) * bt <= s.cached + n && !kv_->HasPrefix(h))
            LL_RETURN_IF_ERROR(kv_->NamePrefix(table[b], h));
        }
      }
      s.cached += n;
      if (!items[k].emits) continue;
      if (emitted >= out.tokens.size()) return rt::Internal("engine: the executor returned too few tokens");
      int32_t token = out.tokens[emitted++];
      s.tokens.push_back(token);
      res.outputs[s.index].push_back(token);
      res.times[s.index].token_ns.push_back(t_end);
      ++tokens_out;
      if (res.outputs[s.index].size() >= output_len(s)) finished.push_back(batch[k]);
    }
    for (size_t i : finished) {
      LL_RETURN_IF_ERROR(finish(seqs[i]));
      running.erase(std::find(running.begin(), running.end(), i));
    }

    if (last_sample == UINT64_MAX || t_end - last_sample >= o_.sample_every_ns) {
      last_sample = t_end;
      mo::KvStats st = kv_->stats();
      res.series.push_back({.t_ns = t_end,
                            .running = static_cast<uint32_t>(running.size()),
                            .waiting = static_cast<uint32_t>(waiting.size()),
                            .batch_tokens = batch_tokens,
                            .local_blocks = st.blocks_local,
                            .remote_blocks = st.blocks_remote,
                            .bytes_offloaded = st.bytes_offloaded,
                            .bytes_fetched = st.bytes_fetched,
                            .tokens_out = tokens_out});
    }
    if (o_.on_step) {
      const mo::KvStats& st = kv_->counters();
      o_.on_step({.start_ns = t,
                  .end_ns = t_end,
                  .compute_ns = out.modelled_ns,
                  .tokens = batch_tokens,
                  .seqs = static_cast<uint32_t>(items.size()),
                  .running = static_cast<uint32_t>(running.size()),
                  .waiting = static_cast<uint32_t>(waiting.size()),
                  .bytes_offloaded = st.bytes_offloaded,
                  .bytes_fetched = st.bytes_fetched});
    }
    if (o_.progress) o_.progress(done, requests.size(), t_end);
  }
  res.elapsed_ns = now();
  res.kv = kv_->stats();
  if (weights_ != nullptr) res.weights = weights_->stats();
  return res;
}

}  // namespace lightloop::workloads
