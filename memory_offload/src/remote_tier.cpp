// SPDX-License-Identifier: Apache-2.0
#include "lightloop/memory_offload/remote_tier.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>

namespace lightloop::memory_offload {

HostTier::HostTier(uint64_t slots, uint64_t slot_bytes) : slots_(slots), slot_bytes_(slot_bytes) {
  if (slots * slot_bytes == 0) return;
  void* p = mmap(nullptr, slots * slot_bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p != MAP_FAILED) data_ = static_cast<unsigned char*>(p);
}

HostTier::~HostTier() {
  if (data_ != nullptr) munmap(data_, slots_ * slot_bytes_);
}

Status HostTier::Check(uint64_t first, uint64_t count) const {
  if (data_ == nullptr) {
    return runtime::ResourceExhausted("host tier: cannot map " + std::to_string(slots_) + " slots of " +
                                      std::to_string(slot_bytes_) + " bytes");
  }
  if (first + count > slots_) return runtime::OutOfRange("host tier: slots past the end");
  return Status::Ok();
}

StatusOr<Ticket> HostTier::Write(uint64_t first, uint64_t count, const void* src) {
  LL_RETURN_IF_ERROR(Check(first, count));
  std::memcpy(data_ + first * slot_bytes_, src, count * slot_bytes_);
  return Ticket{};
}

StatusOr<Ticket> HostTier::Read(uint64_t first, uint64_t count, void* dst) {
  LL_RETURN_IF_ERROR(Check(first, count));
  std::memcpy(dst, data_ + first * slot_bytes_, count * slot_bytes_);
  return Ticket{};
}

AliasTier::AliasTier(std::unique_ptr<RemoteTier> inner, uint64_t slots)
    : inner_(std::move(inner)), slots_(slots) {}

StatusOr<Ticket> AliasTier::Split(bool write, uint64_t first, uint64_t count, unsigned char* buf) {
  if (first + count > slots_) return runtime::OutOfRange("alias tier: slots past the end");
  const uint64_t real = inner_->slots(), sb = inner_->slot_bytes();
  std::vector<Ticket> parts;
  // A run that fits the real slots stays one transfer (placed where it
  // fits); a longer one goes in pieces of all of them.
  const uint64_t piece = std::min(count, real);
  for (uint64_t done = 0; done < count;) {
    const uint64_t n = std::min(piece, count - done);
    const uint64_t at = (first + done) % (real - n + 1);
    unsigned char* p = buf + done * sb;
    LL_ASSIGN_OR_RETURN(Ticket t, write ? inner_->Write(at, n, p) : inner_->Read(at, n, p));
    parts.push_back(t);
    done += n;
  }
  const uint64_t id = next_++;
  pending_[id] = std::move(parts);
  return Ticket{id};
}

StatusOr<Ticket> AliasTier::Write(uint64_t first, uint64_t count, const void* src) {
  return Split(true, first, count, static_cast<unsigned char*>(const_cast<void*>(src)));
}

StatusOr<Ticket> AliasTier::Read(uint64_t first, uint64_t count, void* dst) {
  return Split(false, first, count, static_cast<unsigned char*>(dst));
}

Status AliasTier::Wait(Ticket ticket) {
  auto it = pending_.find(ticket.id);
  if (it == pending_.end()) return runtime::NotFound("alias tier: no ticket " + std::to_string(ticket.id));
  Status result = Status::Ok();
  for (Ticket t : it->second) {
    Status s = inner_->Wait(t);
    if (result.ok() && !s.ok()) result = s;
  }
  pending_.erase(it);
  return result;
}

StatusOr<bool> AliasTier::Test(Ticket ticket) {
  LL_RETURN_IF_ERROR(inner_->Progress());  // once for all the parts
  return Done(ticket);
}

StatusOr<bool> AliasTier::Done(Ticket ticket) {
  auto it = pending_.find(ticket.id);
  if (it == pending_.end()) return runtime::NotFound("alias tier: no ticket " + std::to_string(ticket.id));
  for (Ticket t : it->second) {
    LL_ASSIGN_OR_RETURN(bool done, inner_->Done(t));
    if (!done) return false;
  }
  return true;
}

StatusOr<std::unique_ptr<MemnodeTier>> MemnodeTier::Create(std::vector<runtime::RemoteMemoryClient*> clients,
                                                           uint64_t slot_bytes, uint64_t slots,
                                                           uint64_t stripe_slots) {
  if (clients.empty()) return runtime::InvalidArgument("memnode tier: no memnode client");
  if (slot_bytes == 0 || slots == 0 || stripe_slots == 0) {
    return runtime::InvalidArgument("memnode tier: slot size, slots and stripe must be positive");
  }
  std::unique_ptr<MemnodeTier> tier(new MemnodeTier());
  tier->clients_ = std::move(clients);
  tier->slots_ = slots;
  tier->slot_bytes_ = slot_bytes;
  tier->stripe_ = stripe_slots;
  // Whole stripes per memnode, enough for every slot.
  uint64_t stripes = (slots + stripe_slots - 1) / stripe_slots;
  uint64_t per_client = (stripes + tier->clients_.size() - 1) / tier->clients_.size() * stripe_slots;
  for (runtime::RemoteMemoryClient* c : tier->clients_) {
    LL_ASSIGN_OR_RETURN(runtime::RemoteRegion r, c->Allocate(per_client * slot_bytes, "kv-cache"));
    tier->regions_.push_back(r);
  }
  return tier;
}

MemnodeTier::~MemnodeTier() {
  for (size_t i = 0; i < regions_.size(); ++i) {
    (void)clients_[i]->WaitAll();
    for (void* addr : registered_) (void)clients_[i]->UnregisterBuffer(addr);
    (void)clients_[i]->Free(regions_[i]);
  }
}

StatusOr<Ticket> MemnodeTier::Start(bool write, uint64_t first, uint64_t count, unsigned char* buf) {
  if (first + count > slots_) return runtime::OutOfRange("memnode tier: slots past the end");
  std::vector<std::pair<size_t, runtime::OpHandle>> ops;
  const uint64_t k = clients_.size();
  for (uint64_t s = first; s < first + count;) {
    // The run of slots that stays in one stripe (one memnode, contiguous).
    uint64_t stripe = s / stripe_, n = std::min(first + count, (stripe + 1) * stripe_) - s;
    size_t client = static_cast<size_t>(stripe % k);
    uint64_t offset = ((stripe / k) * stripe_ + s % stripe_) * slot_bytes_;
    unsigned char* p = buf + (s - first) * slot_bytes_;
    runtime::RemoteMemoryClient* c = clients_[client];
    LL_ASSIGN_OR_RETURN(runtime::OpHandle op, write ? c->Write(regions_[client], offset, p, n * slot_bytes_)
                                                    : c->Read(regions_[client], offset, p, n * slot_bytes_));
    ops.emplace_back(client, op);
    s += n;
  }
  Ticket t{next_ticket_++};
  pending_.emplace_back(t.id, std::move(ops));
  return t;
}

StatusOr<Ticket> MemnodeTier::Write(uint64_t first, uint64_t count, const void* src) {
  // The client only reads from the buffer of a write.
  return Start(true, first, count, static_cast<unsigned char*>(const_cast<void*>(src)));
}

StatusOr<Ticket> MemnodeTier::Read(uint64_t first, uint64_t count, void* dst) {
  return Start(false, first, count, static_cast<unsigned char*>(dst));
}

StatusOr<bool> MemnodeTier::Test(Ticket ticket) {
  // One step of progress, then the state of every operation: testing them
  // one by one steps once each, and on the sim target a second step with no
  // compute in between is a wait (a ticket of four stripes blocked the
  // caller until all four had landed).
  LL_RETURN_IF_ERROR(Progress());
  return Done(ticket);
}

StatusOr<bool> MemnodeTier::Done(Ticket ticket) {
  auto it =
      std::find_if(pending_.begin(), pending_.end(), [&](const auto& p) { return p.first == ticket.id; });
  if (it == pending_.end()) return runtime::NotFound("memnode tier: unknown ticket");
  for (auto [client, op] : it->second) {
    LL_ASSIGN_OR_RETURN(bool done, clients_[client]->Done(op));
    if (!done) return false;
  }
  return true;
}

Status MemnodeTier::Progress() {
  for (runtime::RemoteMemoryClient* c : clients_) LL_RETURN_IF_ERROR(c->Progress());
  return Status::Ok();
}

Status MemnodeTier::RegisterLocal(void* addr, size_t len) {
  for (runtime::RemoteMemoryClient* c : clients_) LL_RETURN_IF_ERROR(c->RegisterBuffer(addr, len));
  registered_.push_back(addr);
  return Status::Ok();
}

Status MemnodeTier::Wait(Ticket ticket) {
  auto it =
      std::find_if(pending_.begin(), pending_.end(), [&](const auto& p) { return p.first == ticket.id; });
  if (it == pending_.end()) return runtime::NotFound("memnode tier: unknown ticket");
  Status first_error = Status::Ok();
  for (auto [client, op] : it->second) {
    Status s = clients_[client]->Wait(op);
    if (!s.ok() && first_error.ok()) first_error = s;
  }
  pending_.erase(it);
  return first_error;
}

}  // namespace lightloop::memory_offload
