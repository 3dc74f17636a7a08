#pragma once
// PEARL's flags, the same for `tandem generate` and for every server that verifies
// (`tandem serve`, `tandem node --role verifier`).
#include "apps/flags.h"
#include "speculation/pearl_runner.h"

namespace tandem {

/// Adds --pre-verify, --pearl-drafts and --branch-below.
void add_pearl_flags(Flags& f);
/// Reads them into `pearl`; UsageError for a --pearl-drafts other than chain or tree.
void read_pearl_flags(const Flags& flags, PearlOptions& pearl);

}  // namespace tandem
