// SPDX-License-Identifier: Apache-2.0
// The lightloop libfabric provider's extension: its virtual clock, opened on
// a domain with fi_open_ops under the name LIGHTLOOP_CLOCK_OPS_NAME. Only the
// `lightloop` provider (the sim target, liblightloop-fi.so) offers it; on any
// other provider fi_open_ops fails and the caller keeps the wall clock.
//
//   struct fi_lightloop_clock_ops* clock = nullptr;
//   if (fi_open_ops(&domain->fid, LIGHTLOOP_CLOCK_OPS_NAME, 0,
//                   reinterpret_cast<void**>(&clock), nullptr) == 0) {
//     uint64_t t0 = clock->now_ns(&domain->fid);
//     clock->advance_ns(&domain->fid, 1000);  // one microsecond of compute
//   }
//
// Virtual time is shared by every endpoint of the process (one simulated
// fabric per process). It stands still until the program waits on a
// completion queue that has completions pending (fi_cq_sread, or a second
// fi_cq_read in a row that finds nothing ready: the clock then jumps to the
// next completion) or calls advance_ns. lightloop/runtime/clock.h wraps
// these ops for C++. Plain C so that C programs can use it.
#ifndef LIGHTLOOP_RUNTIME_FI_LIGHTLOOP_H_
#define LIGHTLOOP_RUNTIME_FI_LIGHTLOOP_H_

#include <rdma/fabric.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LIGHTLOOP_PROVIDER_NAME "lightloop"
#define LIGHTLOOP_CLOCK_OPS_NAME "lightloop_clock_v1"

struct fi_lightloop_clock_ops {
  size_t size;  // sizeof(struct fi_lightloop_clock_ops) of the provider
  // Virtual time since the simulated fabric was created, whole nanoseconds.
  uint64_t (*now_ns)(struct fid* domain);
  // Lets `ns` of virtual time pass (the caller computed meanwhile): transfers
  // in flight go on and those due by then become readable from their CQs.
  // Returns 0, or -FI_EINVAL for a fid that is not a lightloop domain.
  int (*advance_ns)(struct fid* domain, uint64_t ns);
  // The same clock in picoseconds, for latencies shorter than a microsecond.
  uint64_t (*now_ps)(struct fid* domain);
};

#ifdef __cplusplus
}
#endif

#endif  // LIGHTLOOP_RUNTIME_FI_LIGHTLOOP_H_
