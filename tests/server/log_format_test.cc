// Client-controlled text in the log: capped and escaped; JSON log lines stay valid JSON.

#include "server/log_format.h"

#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"

namespace ovserve::server {
namespace {

using nlohmann::json;

TEST(LogFormatTest, ClientTextIsCappedAndEscaped) {
  EXPECT_EQ(ClientText("job-1"), "job-1");
  EXPECT_EQ(ClientText("a\nb\"c\x1b[31m"), "a\\nb\\\"c\\x1b[31m");
  const std::string cut = ClientText(std::string(100000, 'x'));
  EXPECT_EQ(cut, std::string(128, 'x') + "...");
  EXPECT_EQ(ClientText("abcdef", 3), "abc...");
}

TEST(LogFormatTest, JsonStringBodyRoundTripsValidTextAndReplacesInvalidUtf8) {
  std::string text = "quote \" backslash \\ newline \n tab \t nul ";
  text.push_back('\0');
  text += " del \x7f café 日本 🙂";
  const json parsed = json::parse(absl::StrCat("\"", JsonStringBody(text), "\""));
  EXPECT_EQ(parsed.get<std::string>(), text);

  // A stray continuation byte, an overlong '/', a surrogate, a cut 3-byte sequence.
  const std::string invalid = "a\x80" "b\xc0\xaf" "c\xed\xa0\x80" "d\xe6\x97";
  const json replaced = json::parse(absl::StrCat("\"", JsonStringBody(invalid), "\""));
  EXPECT_EQ(replaced.get<std::string>(),
            "a\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd" "c\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
            "d\xef\xbf\xbd\xef\xbf\xbd");
}

TEST(LogFormatTest, JsonLogLinesStayOneValidObjectWhateverTheMessage) {
  std::ostringstream out;
  auto logger = std::make_shared<spdlog::logger>(
      "log_format_test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  spdlog::register_logger(logger);
  UseJsonLogLines();  // every registered logger
  const std::string hostile = "request \"}\n{\"level\":\"fake\" \xff\xfe id=\x1b[2J";
  logger->warn("refused: {}", hostile);
  logger->info("plain");
  spdlog::drop("log_format_test");
  spdlog::set_pattern("%+");

  std::istringstream lines(out.str());
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    const json object = json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(object.is_discarded()) << line;
    ASSERT_TRUE(object.is_object()) << line;
    EXPECT_TRUE(object.contains("time"));
    if (count == 0) {
      EXPECT_EQ(object["level"], "warning");
      EXPECT_EQ(object["msg"], "refused: request \"}\n{\"level\":\"fake\" \xef\xbf\xbd\xef\xbf\xbd id=\x1b[2J");
    } else {
      EXPECT_EQ(object["msg"], "plain");
    }
    ++count;
  }
  EXPECT_EQ(count, 2) << out.str();
}

}  // namespace
}  // namespace ovserve::server
