// SPDX-License-Identifier: Apache-2.0
// RemoteMemoryClient's data path: operations split into chunks of at most
// `chunk` bytes, at most `depth` of them posted at once, completions reaped
// from the CQ, and a watchdog that turns a dead memnode into an error.
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

#include <algorithm>
#include <thread>

#include "client/client_impl.h"

namespace lightloop::runtime {

StatusOr<void*> RemoteMemoryClient::Impl::LocalDesc(Op& op, char* local, size_t len) {
  auto it = buffers.upper_bound(reinterpret_cast<uintptr_t>(local));
  if (it != buffers.begin()) {
    --it;
    const MemoryRegion& mr = it->second;
    if (local + len <= static_cast<char*>(mr.addr()) + mr.length()) return mr.desc();
  }
  if (!(domain->mr_mode() & FI_MR_LOCAL)) return nullptr;
  LL_ASSIGN_OR_RETURN(op.temp_mr, domain->RegisterMemory(local, len, FI_READ | FI_WRITE, ep.get()));
  return op.temp_mr.desc();
}

StatusOr<OpHandle> RemoteMemoryClient::Impl::Start(bool write, const RemoteRegion& region, uint64_t offset,
                                                   char* local, size_t len) {
  LL_RETURN_IF_ERROR(broken);
  if (offset > region.length || len > region.length - offset) {
    return OutOfRange(std::string(write ? "write" : "read") + " of " + std::to_string(len) +
                      " bytes at offset " + std::to_string(offset) + " is outside region " +
                      std::to_string(region.id) + " (" + std::to_string(region.length) + " bytes)");
  }
  if (local == nullptr && len > 0) return InvalidArgument("null local buffer");
  uint64_t id = next_op++;
  Op& op = ops[id];
  op = Op{region.id,
          region.key,
          region.remote_addr + offset,
          offset,
          write,
          len,
          0,
          false,
          Status::Ok(),
          MemoryRegion(),
          WallClock::now()};
  auto desc = LocalDesc(op, local, len);
  if (!desc.ok()) {
    ops.erase(id);
    return desc.status();
  }
  for (size_t done = 0; done < len; done += chunk) {
    size_t n = std::min(chunk, len - done);
    Chunk c{};
    c.op = id;
    c.write = write;
    c.local = local + done;
    c.desc = *desc;
    c.peer = peers[next_peer++ % peers.size()];
    c.raddr = region.remote_addr + offset + done;
    c.key = region.key;
    c.len = n;
    queued.push_back(c);
    ++op.chunks_left;
  }
  if (len == 0) op.done = true;
  if (queued.empty() || in_flight == 0) last_completion = WallClock::now();
  Issue();
  return OpHandle{id};
}

void RemoteMemoryClient::Impl::Issue() {
  while (!queued.empty() && !free_slots.empty()) {
    size_t slot = free_slots.back();
    Chunk& c = slots[slot];
    c = queued.front();
    ssize_t ret = c.write ? fi_write(ep->ep(), c.local, c.len, c.desc, c.peer, c.raddr, c.key, &c.ctx)
                          : fi_read(ep->ep(), c.local, c.len, c.desc, c.peer, c.raddr, c.key, &c.ctx);
    if (ret == -FI_EAGAIN) return;  // the provider is full: reap, then retry
    free_slots.pop_back();
    queued.pop_front();
    ++in_flight;
    if (ret != 0) Retire(slot, Status::FromFabric(static_cast<int>(ret), c.write ? "fi_write" : "fi_read"));
  }
}

void RemoteMemoryClient::Impl::Complete(Chunk* c, const Status& status) {
  auto it = ops.find(c->op);
  if (it == ops.end()) return;
  Op& op = it->second;
  if (!status.ok() && op.status.ok()) {
    op.status =
        status.WithContext(std::string(op.write ? "write" : "read") + " of " + std::to_string(op.len) +
                           " bytes at offset " + std::to_string(op.offset) + " of region " +
                           std::to_string(op.region) + " on memnode " + options.memnode);
  }
  if (--op.chunks_left > 0) return;
  op.done = true;
  op.temp_mr = MemoryRegion();
  if (!op.status.ok()) return Explain(op);
  auto& [written, read] = unreported[op.region];
  (op.write ? written : read) += op.len;
  (op.write ? total_written : total_read) += op.len;
}

void RemoteMemoryClient::Impl::Retire(size_t slot, const Status& status) {
  last_completion = WallClock::now();
  free_slots.push_back(slot);
  if (abandoned[slot]) {  // its operation was already given up on
    return;
  }
  --in_flight;
  Complete(&slots[slot], status);
}

Status RemoteMemoryClient::Impl::Reap() {
  fi_cq_entry entries[16];
  for (;;) {
    ssize_t n = ep->cq().Read(entries, 16);
    if (n == -FI_EAGAIN) return Status::Ok();
    if (n == -FI_EAVAIL) {
      LL_ASSIGN_OR_RETURN(fi_cq_err_entry err, ep->cq().ReadError());
      auto* c = static_cast<Chunk*>(err.op_context);
      if (c == nullptr) continue;
      Retire(
          static_cast<size_t>(c - slots.data()),
          Status::FromCompletionError(err.err, c->write ? "fi_write" : "fi_read", ep->cq().ErrorText(err)));
      continue;
    }
    if (n < 0) return Status::FromFabric(static_cast<int>(n), "fi_cq_read");
    for (ssize_t i = 0; i < n; ++i) {
      Retire(static_cast<size_t>(static_cast<Chunk*>(entries[i].op_context) - slots.data()), Status::Ok());
    }
  }
}

// Providers report a refused access or a lost peer vaguely (tcp says
// "Operation canceled" for both); the memnode says which it was.
void RemoteMemoryClient::Impl::Explain(Op& op) {
  if (!broken.ok()) return;
  Status why = CheckAccess(op);
  if (why.ok()) return;  // the memnode would accept it: the provider's word stands
  if (why.code() == StatusCode::kUnavailable || why.code() == StatusCode::kDeadlineExceeded) {
    op.status = Unavailable(why.message() + " (provider said: " + op.status.message() + ")");
    suspect_peer = true;
    return;
  }
  op.status = Status(why.code(), "the memnode refused this transfer: " + why.message() +
                                     " (provider said: " + op.status.message() + ")");
}

void RemoteMemoryClient::Impl::FailAll(const Status& status) {
  broken = status;
  queued.clear();
  for (auto& [id, op] : ops) {
    if (op.done) continue;
    op.done = true;
    op.status = status;
    if (op.temp_mr) abandoned_mrs.push_back(std::move(op.temp_mr));  // the provider may hold chunks
  }
}

void RemoteMemoryClient::Impl::Abandon(uint64_t id, const Status& status) {
  Op& op = ops.at(id);
  std::erase_if(queued, [id](const Chunk& c) { return c.op == id; });
  for (size_t i = 0; i < slots.size(); ++i) {
    bool free = std::find(free_slots.begin(), free_slots.end(), i) != free_slots.end();
    if (!free && !abandoned[i] && slots[i].op == id) {
      abandoned[i] = true;
      --in_flight;
    }
  }
  op.done = true;
  op.status = status;
  if (op.temp_mr) abandoned_mrs.push_back(std::move(op.temp_mr));
}

// Runs while operations are outstanding. A transfer that failed as if the
// memnode were gone, or no completion for stall_timeout, makes the client ask
// the memnode whether it is alive (a dead one fails everything) and whether
// it accepts each late operation's key and range (some providers drop a
// refused access silently). Past op_timeout an operation fails regardless.
Status RemoteMemoryClient::Impl::Watchdog() {
  bool stalled = in_flight > 0 && WallClock::now() - last_completion >= options.stall_timeout;
  if (!stalled && !suspect_peer) return Status::Ok();
  suspect_peer = false;
  if (Status alive = CheckAlive(); !alive.ok()) {
    FailAll(Unavailable("memnode " + options.memnode + " stopped answering (" + alive.message() + ")"));
    return broken;
  }
  if (!stalled) return Status::Ok();
  WallClock::time_point now = WallClock::now();
  std::vector<std::pair<uint64_t, Status>> refused;
  for (const auto& [id, op] : ops) {
    if (op.done || now - op.started < options.stall_timeout) continue;
    Status access = CheckAccess(op);
    if (!access.ok() && access.code() != StatusCode::kUnavailable &&
        access.code() != StatusCode::kDeadlineExceeded) {
      refused.emplace_back(id, access.WithContext("the memnode refused this transfer"));
    } else if (now - op.started > options.op_timeout) {
      refused.emplace_back(id, DeadlineExceeded("operation did not complete within " +
                                                std::to_string(options.op_timeout.count()) + " ms"));
    }
  }
  for (const auto& [id, why] : refused) Abandon(id, why);
  if (free_slots.empty() && std::all_of(abandoned.begin(), abandoned.end(), [](bool a) { return a; })) {
    FailAll(Unavailable("every transfer slot is held by an operation the provider never completed"));
    return broken;
  }
  last_completion = now;  // alive: give the rest another stall period
  return Status::Ok();
}

Status RemoteMemoryClient::Impl::Step() {
  if (!broken.ok()) return broken;
  WallClock::time_point before = last_completion;
  Issue();
  if (Status s = Reap(); !s.ok()) FailAll(s);
  Status watchdog = Watchdog();
  if (last_completion == before) std::this_thread::yield();  // nothing completed: let the peer's threads run
  return watchdog;
}

Status RemoteMemoryClient::Impl::DrainAll() {
  Status first;
  while (broken.ok() && (in_flight > 0 || !queued.empty())) {
    if (!Step().ok()) break;
  }
  for (auto& [id, op] : ops) {
    if (!op.status.ok() && first.ok()) first = op.status;
  }
  if (first.ok() && !broken.ok()) first = broken;
  std::erase_if(ops, [](const auto& kv) { return kv.second.done; });
  return first;
}

StatusOr<OpHandle> RemoteMemoryClient::Write(const RemoteRegion& region, uint64_t offset, const void* src,
                                             size_t len) {
  return impl_->Start(true, region, offset, static_cast<char*>(const_cast<void*>(src)), len);
}

StatusOr<OpHandle> RemoteMemoryClient::Read(const RemoteRegion& region, uint64_t offset, void* dst,
                                            size_t len) {
  return impl_->Start(false, region, offset, static_cast<char*>(dst), len);
}

Status RemoteMemoryClient::Progress() {
  return impl_->Step();
}

StatusOr<bool> RemoteMemoryClient::Test(OpHandle handle) {
  auto it = impl_->ops.find(handle.id);
  if (it == impl_->ops.end()) {
    return NotFound("operation " + std::to_string(handle.id) + " is unknown or already waited for");
  }
  if (!it->second.done) (void)Progress();
  return it->second.done;
}

StatusOr<bool> RemoteMemoryClient::Done(OpHandle handle) const {
  auto it = impl_->ops.find(handle.id);
  if (it == impl_->ops.end()) {
    return NotFound("operation " + std::to_string(handle.id) + " is unknown or already waited for");
  }
  return it->second.done;
}

Status RemoteMemoryClient::Wait(OpHandle handle) {
  auto it = impl_->ops.find(handle.id);
  if (it == impl_->ops.end()) {
    return NotFound("operation " + std::to_string(handle.id) + " is unknown or already waited for");
  }
  while (!it->second.done) (void)impl_->Step();
  Status s = it->second.status;
  impl_->ops.erase(it);
  return s;
}

Status RemoteMemoryClient::WaitAll() {
  return impl_->DrainAll();
}

Status RemoteMemoryClient::RegisterBuffer(void* addr, size_t len) {
  LL_ASSIGN_OR_RETURN(MemoryRegion mr,
                      impl_->domain->RegisterMemory(addr, len, FI_READ | FI_WRITE, impl_->ep.get()));
  impl_->buffers[reinterpret_cast<uintptr_t>(addr)] = std::move(mr);
  return Status::Ok();
}

Status RemoteMemoryClient::UnregisterBuffer(void* addr) {
  if (impl_->buffers.erase(reinterpret_cast<uintptr_t>(addr)) == 0) {
    return NotFound("buffer was not registered");
  }
  return Status::Ok();
}

}  // namespace lightloop::runtime
