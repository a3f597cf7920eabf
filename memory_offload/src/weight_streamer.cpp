// SPDX-License-Identifier: Apache-2.0
#include "lightloop/memory_offload/weight_streamer.h"

#include <algorithm>
#include <chrono>

namespace lightloop::memory_offload {

WeightStreamer::WeightStreamer(const Options& options, std::unique_ptr<RemoteTier> remote)
    : o_(options), remote_(std::move(remote)) {
  if (!o_.now_ns) {
    o_.now_ns = [] {
      return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                       std::chrono::steady_clock::now().time_since_epoch())
                                       .count());
    };
  }
}

WeightStreamer::~WeightStreamer() {
  for (Buffer& b : streamed_) {
    if (b.in_flight) (void)remote_->Wait(b.ticket);
  }
  for (Buffer& b : pinned_) {
    if (b.in_flight) (void)remote_->Wait(b.ticket);
  }
}

StatusOr<std::unique_ptr<WeightStreamer>> WeightStreamer::Create(const Options& o,
                                                                 std::unique_ptr<RemoteTier> remote) {
  if (!remote) return runtime::InvalidArgument("weight streamer: no remote tier");
  if (o.layers <= 0 || o.layer_bytes == 0) {
    return runtime::InvalidArgument("weight streamer: layers and layer_bytes must be positive");
  }
  if (o.buffers < 1) return runtime::InvalidArgument("weight streamer: buffers must be at least 1");
  if (remote->slot_bytes() != o.layer_bytes || remote->slots() < static_cast<uint64_t>(o.layers)) {
    return runtime::InvalidArgument("weight streamer: the remote tier needs " + std::to_string(o.layers) +
                                    " slots of " + std::to_string(o.layer_bytes) + " bytes");
  }
  for (int64_t l : o.pinned) {
    if (l < 0 || l >= o.layers) {
      return runtime::OutOfRange("weight streamer: pinned layer " + std::to_string(l) + " is not in [0, " +
                                 std::to_string(o.layers) + ")");
    }
  }
  std::unique_ptr<WeightStreamer> ws(new WeightStreamer(o, std::move(remote)));
  ws->streamed_.resize(static_cast<size_t>(o.buffers));
  for (Buffer& b : ws->streamed_) b.bytes.resize(o.layer_bytes);
  for (int64_t l : o.pinned) {
    Buffer b;
    b.layer = l;
    b.bytes.resize(o.layer_bytes);
    ws->pinned_.push_back(std::move(b));
  }
  for (Buffer& b : ws->streamed_)
    LL_RETURN_IF_ERROR(ws->remote_->RegisterLocal(b.bytes.data(), b.bytes.size()));
  for (Buffer& b : ws->pinned_)
    LL_RETURN_IF_ERROR(ws->remote_->RegisterLocal(b.bytes.data(), b.bytes.size()));
  return ws;
}

Status WeightStreamer::Store(int64_t layer, const void* weights) {
  if (layer < 0 || layer >= o_.layers)
    return runtime::OutOfRange("weight streamer: no layer " + std::to_string(layer));
  LL_ASSIGN_OR_RETURN(Ticket t, remote_->Write(static_cast<uint64_t>(layer), 1, weights));
  return remote_->Wait(t);
}

bool WeightStreamer::Pinned(int64_t layer) const {
  return std::find(o_.pinned.begin(), o_.pinned.end(), layer) != o_.pinned.end();
}

Status WeightStreamer::LoadPinned() {
  for (Buffer& b : pinned_) LL_RETURN_IF_ERROR(StartFetch(b, b.layer));
  for (Buffer& b : pinned_) {
    LL_RETURN_IF_ERROR(remote_->Wait(b.ticket));
    b.in_flight = false;
  }
  return Status::Ok();
}

WeightStreamer::Buffer* WeightStreamer::Holding(int64_t layer) {
  std::vector<Buffer>& pool = Pinned(layer) ? pinned_ : streamed_;
  for (Buffer& b : pool) {
    if (b.layer == layer) return &b;
  }
  return nullptr;
}

Status WeightStreamer::StartFetch(Buffer& b, int64_t layer) {
  if (b.in_flight) {
    LL_RETURN_IF_ERROR(remote_->Wait(b.ticket));  // its bytes land before the buffer is reused
    b.in_flight = false;
  }
  b.layer = layer;
  LL_ASSIGN_OR_RETURN(b.ticket, remote_->Read(static_cast<uint64_t>(layer), 1, b.bytes.data()));
  b.in_flight = true;
  ++stats_.fetches;
  stats_.bytes_fetched += o_.layer_bytes;
  return Status::Ok();
}

// Fills the streamed buffers other than the current layer's with the
// streamed layers after it, in order, wrapping around.
Status WeightStreamer::Prefetch(int64_t current) {
  std::vector<int64_t> want;
  for (int64_t step = 1; step <= o_.layers && want.size() + 1 < streamed_.size(); ++step) {
    int64_t l = (current + step) % o_.layers;
    if (l == current) break;
    if (!Pinned(l)) want.push_back(l);
  }
  for (int64_t l : want) {
    if (Holding(l) != nullptr) continue;
    // A buffer holding neither the current layer nor one of those wanted.
    for (Buffer& b : streamed_) {
      if (b.layer == current || std::find(want.begin(), want.end(), b.layer) != want.end()) continue;
      LL_RETURN_IF_ERROR(StartFetch(b, l));
      break;
    }
  }
  return Status::Ok();
}

StatusOr<const unsigned char*> WeightStreamer::Acquire(int64_t layer) {
  if (layer < 0 || layer >= o_.layers)
    return runtime::OutOfRange("weight streamer: no layer " + std::to_string(layer));
  Buffer* b = Holding(layer);
  if (b == nullptr) {
    if (Pinned(layer)) return runtime::FailedPrecondition("weight streamer: call LoadPinned first");
    // Not prefetched: fetch it now, into the buffer used longest ago.
    Buffer* victim = &streamed_.front();
    for (Buffer& s : streamed_) {
      if (!s.in_flight && s.layer == -1) victim = &s;
    }
    LL_RETURN_IF_ERROR(StartFetch(*victim, layer));
    b = victim;
  }
  if (b->in_flight) {
    // Landed already (a look, no progress step): no stall.
    LL_ASSIGN_OR_RETURN(bool landed, remote_->Done(b->ticket));
    const uint64_t start = o_.now_ns();
    LL_RETURN_IF_ERROR(remote_->Wait(b->ticket));
    b->in_flight = false;
    if (!landed) {
      stats_.stall_ns += o_.now_ns() - start;
      ++stats_.stalls;
    }
  }
  LL_RETURN_IF_ERROR(Prefetch(layer));
  return b->bytes.data();
}

}  // namespace lightloop::memory_offload
