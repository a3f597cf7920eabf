// SPDX-License-Identifier: Apache-2.0
#include <cmath>

#include "lightloop/workloads/executors.h"

namespace lightloop::workloads {

ShapeExecutor::ShapeExecutor(ModelShape model, Accelerator accelerator)
    : m_(std::move(model)), a_(std::move(accelerator)) {}

runtime::StatusOr<StepOutput> ShapeExecutor::Run(const std::vector<StepItem>& items,
                                                 const LayerHook& before_layer) {
  StepOutput out;
  std::vector<StepWork> work;
  work.reserve(items.size());
  for (const StepItem& it : items) {
    work.push_back({.tokens = it.count, .cached = static_cast<uint64_t>(it.start_pos)});
    if (it.emits) {
      out.tokens.push_back(
          ShapeToken(it.request_id, static_cast<uint64_t>(it.start_pos) + it.count, m_.vocab_size));
    }
  }
  out.modelled_ns = static_cast<uint64_t>(std::llround(BatchStep(m_, a_, work).seconds * 1e9));
  if (before_layer) {
    // No arithmetic, so no use for streamed weights.
    for (int64_t l = 0; l < m_.layers; ++l) {
      LL_RETURN_IF_ERROR(before_layer(l, m_.layers, out.modelled_ns).status());
    }
  }
  return out;
}

}  // namespace lightloop::workloads
