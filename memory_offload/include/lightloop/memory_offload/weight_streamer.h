// SPDX-License-Identifier: Apache-2.0
// Weight streaming: a model's layer weights live in the remote tier, and
// while layer l computes, the next `buffers - 1` layers are fetched into
// local buffers (2: double buffering, 3: triple). Layers named `pinned`
// are fetched once and stay resident. Layers are visited in order and
// wrap around (the next token starts again at layer 0). Every layer has
// the same size, the remote tier's slot size.
//
//   WeightStreamer::Options o{.layer_bytes = 400 << 20, .layers = 32, .buffers = 3, .pinned = {0, 31}};
//   LL_ASSIGN_OR_RETURN(auto ws, WeightStreamer::Create(o, std::move(tier)));
//   for (int64_t l = 0; l < 32; ++l) LL_RETURN_IF_ERROR(ws->Store(l, weights[l]));
//   LL_RETURN_IF_ERROR(ws->LoadPinned());
//   for (int64_t l = 0; l < 32; ++l) {
//     LL_ASSIGN_OR_RETURN(const unsigned char* w, ws->Acquire(l));  // waits only if not there yet
//     compute(w);                                                   // the next layers fly meanwhile
//   }
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "lightloop/memory_offload/remote_tier.h"

namespace lightloop::memory_offload {

struct WeightStats {
  uint64_t fetches = 0;
  uint64_t bytes_fetched = 0;
  uint64_t stall_ns = 0;  // in Acquire, waiting for a layer
  uint64_t stalls = 0;    // Acquires that had to wait
};

class WeightStreamer {
 public:
  struct Options {
    uint64_t layer_bytes = 0;
    int64_t layers = 0;
    int64_t buffers = 2;  // local buffers for the streamed layers (at least 1)
    std::vector<int64_t> pinned;
    std::function<uint64_t()> now_ns;  // empty: the wall clock
  };

  // The tier needs a slot per layer of layer_bytes.
  static StatusOr<std::unique_ptr<WeightStreamer>> Create(const Options& options,
                                                          std::unique_ptr<RemoteTier> remote);
  ~WeightStreamer();

  // Puts layer `layer`'s weights in the remote tier.
  Status Store(int64_t layer, const void* weights);
  // Fetches the pinned layers into their own buffers.
  Status LoadPinned();
  // Layer `layer`'s weights, local, valid until the next Acquire.
  // Starts fetching the layers after it into the free buffers.
  StatusOr<const unsigned char*> Acquire(int64_t layer);
  // Moves fetches in flight along (call it between pieces of compute).
  Status Progress() { return remote_->Progress(); }
  const WeightStats& stats() const { return stats_; }

 private:
  struct Buffer {
    int64_t layer = -1;
    bool in_flight = false;
    Ticket ticket;
    std::vector<unsigned char> bytes;
  };
  WeightStreamer(const Options& options, std::unique_ptr<RemoteTier> remote);
  bool Pinned(int64_t layer) const;
  Buffer* Holding(int64_t layer);
  Status StartFetch(Buffer& b, int64_t layer);
  Status Prefetch(int64_t current);

  Options o_;
  std::unique_ptr<RemoteTier> remote_;
  std::vector<Buffer> streamed_;
  std::vector<Buffer> pinned_;
  WeightStats stats_;
};

}  // namespace lightloop::memory_offload
