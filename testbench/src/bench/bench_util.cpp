// SPDX-License-Identifier: Apache-2.0
#include "bench/bench_util.h"

#include <algorithm>
#include <deque>
#include <string>

namespace lightloop::testbench {

namespace rt = lightloop::runtime;

rt::Status ComputeFor(const rt::Clock& clock, const std::function<rt::Status()>& progress, uint64_t ns) {
  if (!clock.is_virtual()) {
    const uint64_t until = clock.now_ns() + ns;
    do {
      LL_RETURN_IF_ERROR(progress());
    } while (clock.now_ns() < until);
    return rt::Status::Ok();
  }
  constexpr uint64_t kSlice = 10000;
  for (uint64_t done = 0; done < ns;) {
    const uint64_t step = std::min(kSlice, ns - done);
    clock.advance_ns(step);
    LL_RETURN_IF_ERROR(progress());
    done += step;
  }
  return rt::Status::Ok();
}

rt::StatusOr<uint64_t> RawPass(rt::RemoteMemoryClient& c, const rt::RemoteRegion& region, bool write,
                               std::vector<unsigned char>& buf, uint64_t size, uint64_t count, size_t depth) {
  const uint64_t pieces = buf.size() / size;
  if (pieces == 0)
    return rt::InvalidArgument("raw pass: the buffer holds no operation of " + std::to_string(size));
  std::deque<rt::OpHandle> flying;
  const uint64_t t0 = c.clock().now_ps();
  for (uint64_t i = 0; i < count; ++i) {
    if (flying.size() == depth) {
      LL_RETURN_IF_ERROR(c.Wait(flying.front()));
      flying.pop_front();
    }
    unsigned char* p = buf.data() + (i % pieces) * size;
    LL_ASSIGN_OR_RETURN(rt::OpHandle op,
                        write ? c.Write(region, i * size, p, size) : c.Read(region, i * size, p, size));
    flying.push_back(op);
  }
  for (rt::OpHandle op : flying) LL_RETURN_IF_ERROR(c.Wait(op));
  return c.clock().now_ps() - t0;
}

double Gbps(uint64_t bytes, uint64_t ps) {
  return ps == 0 ? 0 : static_cast<double>(bytes) * 1e3 / ps;
}

}  // namespace lightloop::testbench
