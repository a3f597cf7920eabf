// SPDX-License-Identifier: Apache-2.0
// The unit tests run from GoogleTest's main and never elaborate a model, but
// they link objects that use SystemC (the configuration reference reads every
// memory model through the registry), and libsystemc refers to sc_main from
// its own main(); this satisfies the linker.
#include <systemc>

extern "C" int sc_main(int, char**) {
  return 0;
}
