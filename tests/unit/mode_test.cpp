// Modes are parsed once, from their names, and named the same way everywhere they leave
// the process (replies, logs, metric labels).
#include "speculation/mode.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "observability/metrics.h"

namespace tandem {
namespace {

TEST(Mode, EveryModeParsesFromItsOwnName) {
  for (Mode mode : all_modes()) EXPECT_EQ(parse_mode(mode_name(mode)), mode) << mode_name(mode);
  EXPECT_EQ(all_modes().size(), 7u);
}

TEST(Mode, AnUnknownNameIsRefusedWithTheChoices) {
  for (const char* name : {"", "AR", "chain ", "beam"}) {
    try {
      parse_mode(name);
      ADD_FAILURE() << "'" << name << "' parsed";
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()),
                "mode must be ar, chain, tree, pearl, lookup, recycle or auto, got '" + std::string(name) + "'");
    }
  }
}

TEST(Mode, TheMetricLabelsAreTheModeNamesInOrder) {
  // observability/ sits below speculation/ and keeps its own list for the series it creates at zero.
  ASSERT_EQ(std::size(kModeLabels), all_modes().size());
  for (size_t i = 0; i < all_modes().size(); ++i) EXPECT_STREQ(kModeLabels[i], mode_name(all_modes()[i]));
}

TEST(Mode, OnlyTheDraftModelModesNeedADraftModel) {
  for (Mode mode : all_modes())
    EXPECT_EQ(needs_draft_model(mode), mode == Mode::chain || mode == Mode::tree || mode == Mode::pearl)
        << mode_name(mode);
}

}  // namespace
}  // namespace tandem
