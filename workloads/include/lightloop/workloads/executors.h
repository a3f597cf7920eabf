// SPDX-License-Identifier: Apache-2.0
// The two ways a step is computed:
//   - ShapeExecutor (shape mode): no arithmetic; the step takes the
//     accelerator roofline's time (BatchStep) and each emitting sequence gets
//     a token id derived from its request and position (ShapeToken), so that
//     a run still has a token stream to compare;
//   - FunctionalExecutor (functional mode): the Llama forward pass of
//     llama.h over the sequences' KV blocks, then greedy or seeded sampling;
//     its modelled time is the same roofline for the small model's shape.
//
//   ShapeExecutor shape(llama70b, Replicate(h100, 4));
//   Engine engine(options, kv.get(), &shape, clock);
#pragma once

#include <cstdint>
#include <memory>

#include "lightloop/workloads/accelerator.h"
#include "lightloop/workloads/engine.h"
#include "lightloop/workloads/llama.h"
#include "lightloop/workloads/model_shape.h"

namespace lightloop::workloads {

class ShapeExecutor : public StepExecutor {
 public:
  ShapeExecutor(ModelShape model, Accelerator accelerator);
  using StepExecutor::Run;
  runtime::StatusOr<StepOutput> Run(const std::vector<StepItem>& items,
                                    const LayerHook& before_layer) override;
  bool computes() const override { return false; }

 private:
  ModelShape m_;
  Accelerator a_;
};

class FunctionalExecutor : public StepExecutor {
 public:
  // `model` must outlive the executor. Sampling is greedy at temperature 0;
  // otherwise each token is drawn with a generator seeded from `seed`, the
  // request and the position, so it does not depend on batching.
  FunctionalExecutor(LlamaModel* model, Accelerator accelerator, float temperature = 0, int top_k = 0,
                     uint64_t seed = 1);
  using StepExecutor::Run;
  runtime::StatusOr<StepOutput> Run(const std::vector<StepItem>& items,
                                    const LayerHook& before_layer) override;
  bool computes() const override { return true; }

 private:
  LlamaModel* model_;
  Accelerator a_;
  float temperature_;
  int top_k_;
  uint64_t seed_;
};

}  // namespace lightloop::workloads
