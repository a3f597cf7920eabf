// SPDX-License-Identifier: Apache-2.0
// What `bench offload` and `bench weights` share: the compute model, the
// runtime-alone baseline pass and the GB/s of a timed pass.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "lightloop/runtime/clock.h"
#include "lightloop/runtime/remote_memory.h"
#include "lightloop/runtime/status.h"

namespace lightloop::testbench {

// Computes for `ns`. The compute is the accelerator's: on the wall clock
// the host thread drives the transfers in flight meanwhile, calling
// `progress` until the compute is done (as an inference loop's host thread
// does while its kernels run; a provider that copies with the CPU, tcp or
// shm, moves bytes only then). In virtual time it lets 10 us of compute
// pass between calls.
runtime::Status ComputeFor(const runtime::Clock& clock, const std::function<runtime::Status()>& progress,
                           uint64_t ns);

// `count` operations of `size` bytes at consecutive offsets of `region`,
// `depth` in flight, from or into the pieces of `buf` in turn (as many as
// it holds, so a smaller buffer is reused as a streamer's are): the runtime
// alone. Returns picoseconds on the client's clock.
runtime::StatusOr<uint64_t> RawPass(runtime::RemoteMemoryClient& c, const runtime::RemoteRegion& region,
                                    bool write, std::vector<unsigned char>& buf, uint64_t size,
                                    uint64_t count, size_t depth);

// `bytes` in `ps` picoseconds, in GB/s (0 when no time passed).
double Gbps(uint64_t bytes, uint64_t ps);

}  // namespace lightloop::testbench
