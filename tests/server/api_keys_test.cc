// API keys: one per line, optionally named; comments; constant-time match
// that names the tenant; malformed files refused with the line.
#include "server/api_keys.h"

#include "gtest/gtest.h"

namespace ovserve::server {
namespace {

TEST(ApiKeysTest, NoKeysMeansEveryoneIsTheDefaultTenant) {
  const ApiKeys keys;
  EXPECT_FALSE(keys.enabled());
  EXPECT_EQ(keys.Authenticate(""), std::optional<std::string>(""));
}

TEST(ApiKeysTest, NamedAndUnnamedKeysAreTenants) {
  auto keys = ApiKeys::Parse("# operators\nalice sk-alice-1\n\n  sk-bare  \nbob\tsk-bob # trailing\n", "test");
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_TRUE(keys->enabled());
  EXPECT_EQ(keys->Authenticate("Bearer sk-alice-1"), std::optional<std::string>("alice"));
  EXPECT_EQ(keys->Authenticate("bearer sk-bob"), std::optional<std::string>("bob"));
  EXPECT_EQ(keys->Authenticate("Bearer sk-bare"), std::optional<std::string>("key2"));
  EXPECT_EQ(keys->Authenticate("Bearer sk-alice"), std::nullopt);   // a prefix
  EXPECT_EQ(keys->Authenticate("Bearer sk-alice-12"), std::nullopt);  // longer
  EXPECT_EQ(keys->Authenticate("sk-alice-1"), std::nullopt);        // no scheme
  EXPECT_EQ(keys->Authenticate(""), std::nullopt);
  EXPECT_EQ(keys->Authenticate("Bearer alice"), std::nullopt);      // the name is no key
}

TEST(ApiKeysTest, MalformedFilesAreRefused) {
  EXPECT_FALSE(ApiKeys::Parse("# only a comment\n", "f").ok());
  const auto three = ApiKeys::Parse("ok key\na b c\n", "f");
  ASSERT_FALSE(three.ok());
  EXPECT_NE(three.status().message().find("line 2"), absl::string_view::npos) << three.status();
}

}  // namespace
}  // namespace ovserve::server
