// SPDX-License-Identifier: Apache-2.0
#include <cmath>
#include <functional>

#include "lightloop/workloads/executors.h"

namespace lightloop::workloads {

FunctionalExecutor::FunctionalExecutor(LlamaModel* model, Accelerator accelerator, float temperature,
                                       int top_k, uint64_t seed)
    : model_(model), a_(std::move(accelerator)), temperature_(temperature), top_k_(top_k), seed_(seed) {}

runtime::StatusOr<StepOutput> FunctionalExecutor::Run(const std::vector<StepItem>& items,
                                                      const LayerHook& before_layer) {
  std::vector<SeqChunk> chunks;
  std::vector<StepWork> work;
  chunks.reserve(items.size());
  for (const StepItem& it : items) {
    chunks.push_back({.tokens = {it.tokens, it.count},
                      .start_pos = it.start_pos,
                      .kv = {it.blocks},
                      .want_logits = it.emits});
    work.push_back({.tokens = it.count, .cached = static_cast<uint64_t>(it.start_pos)});
  }
  StepOutput out;
  const ModelShape& shape = model_->config().shape;
  out.modelled_ns = static_cast<uint64_t>(std::llround(BatchStep(shape, a_, work).seconds * 1e9));
  LlamaModel::LayerWeightsHook hook;
  if (before_layer) {
    hook = [&](int64_t l) { return before_layer(l, shape.layers, out.modelled_ns); };
  }
  LL_ASSIGN_OR_RETURN(std::vector<std::vector<float>> logits, model_->Forward(chunks, hook));
  for (size_t k = 0; k < items.size(); ++k) {
    if (!items[k].emits) continue;
    // One generator per (request, position): the token does not depend on
    // which step or batch computed it.
    uint64_t state = seed_ ^ (items[k].request_id * 0x9e3779b97f4a7c15ull) ^
                     static_cast<uint64_t>(items[k].start_pos + static_cast<int64_t>(items[k].count));
    out.tokens.push_back(Sample(logits[k], temperature_, top_k_, state));
  }
  return out;
}

}  // namespace lightloop::workloads
