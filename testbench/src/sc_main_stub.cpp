// SPDX-License-Identifier: Apache-2.0
// libsystemc refers to sc_main from its own main(). Programs that link
// lightloop::testbench have their own main and elaborate the models from
// their subcommands, so sc_main is never called; this satisfies the linker.
// It is an INTERFACE source: compiled into each program, not the archive.
#include <systemc>

extern "C" int sc_main(int, char**) {
  return 0;
}
