// Model and vocabulary fingerprints: equal for the same file loaded twice, different for
// a model with one norm changed (same vocabulary) and for another vocabulary.
#include "model/fingerprint.h"

#include <gtest/gtest.h>

#include "model/model.h"
#include "test_helpers.h"

namespace tandem {
namespace {

TEST(Fingerprint, TellsModelsAndVocabulariesApart) {
  auto stories = Model::load(test::stories_model()), again = Model::load(test::stories_model());
  auto perturbed = Model::load(test::perturbed_stories());
  auto smollm = Model::load(test::installed_model("smollm2-135m-instruct-q4_1.gguf"));

  EXPECT_EQ(model_fingerprint(*stories), model_fingerprint(*again));
  EXPECT_EQ(model_fingerprint(*stories).rfind("stories260K:", 0), 0u) << model_fingerprint(*stories);
  EXPECT_NE(model_fingerprint(*stories), model_fingerprint(*perturbed));  // one norm differs
  EXPECT_EQ(vocabulary_fingerprint(stories->tokenizer()), vocabulary_fingerprint(perturbed->tokenizer()));

  EXPECT_NE(vocabulary_fingerprint(stories->tokenizer()), vocabulary_fingerprint(smollm->tokenizer()));
  EXPECT_EQ(vocabulary_fingerprint(stories->tokenizer()).rfind("512 tokens:", 0), 0u)
      << vocabulary_fingerprint(stories->tokenizer());
}

}  // namespace
}  // namespace tandem
