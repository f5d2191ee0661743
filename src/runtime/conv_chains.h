// SPDX-License-Identifier: Apache-2.0
// The last step of the channels-last pass (qforge/channels_last.h): ChannelsLastConvs that
// each read only the one before, over values large enough to leave the cache, become one
// ChannelsLastConvChain (src/runtime/kernels/conv_chain.h). Tested in
// tests/runtime/test_conv_chain.cpp.
#pragma once

#include "qforge/channels_last.h"

namespace qforge {

void fuse_conv_chains(Graph& graph, const ChannelsLastOptions& options, int threads,
                      ChannelsLastSummary& summary);

}  // namespace qforge
