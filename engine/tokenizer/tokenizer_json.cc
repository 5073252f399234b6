#include "engine/tokenizer/tokenizer_json.h"

#include <cstdint>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace ovserve::engine {
namespace {

using Json = nlohmann::json;

absl::Status Unsupported(absl::string_view what) {
  return absl::UnimplementedError(absl::StrCat(what, " is not supported by this tokenizer"));
}

// The "type" of a component object, "" when absent.
absl::StatusOr<std::string> TypeOf(const Json& component, absl::string_view field) {
  if (!component.is_object()) return absl::InvalidArgumentError(absl::StrCat(field, ": not an object"));
  const auto it = component.find("type");
  if (it == component.end()) return std::string();
  if (!it->is_string()) return absl::InvalidArgumentError(absl::StrCat(field, ".type: not a string"));
  return it->get<std::string>();
}

bool FlagSet(const Json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

// True when `key` is absent, null or "".
bool EmptyOrAbsent(const Json& object, const char* key) {
  const auto it = object.find(key);
  return it == object.end() || it->is_null() || (it->is_string() && it->get<std::string>().empty());
}

absl::Status ParseNormalizer(const Json& root, TokenizerSpec* spec) {
  const auto it = root.find("normalizer");
  if (it == root.end() || it->is_null()) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::string type, TypeOf(*it, "normalizer"));
  if (type == "NFC") {
    spec->nfc = true;
    return absl::OkStatus();
  }
  if (type == "Sequence") {
    const auto list = it->find("normalizers");
    if (list == it->end() || !list->is_array()) {
      return absl::InvalidArgumentError("normalizer.normalizers: missing or not an array");
    }
    for (size_t i = 0; i < list->size(); ++i) {
      const std::string field = absl::StrCat("normalizer.normalizers[", i, "]");
      ASSIGN_OR_RETURN(std::string inner, TypeOf((*list)[i], field));
      if (inner != "NFC") return Unsupported(absl::StrCat(field, " of type \"", inner, "\""));
      spec->nfc = true;
    }
    return absl::OkStatus();
  }
  return Unsupported(absl::StrCat("normalizer of type \"", type, "\" (supported: NFC)"));
}

absl::Status ParseSplit(const Json& split, const std::string& field, TokenizerSpec* spec) {
  const auto pattern = split.find("pattern");
  if (pattern == split.end() || !pattern->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".pattern: missing or not an object"));
  }
  if (const auto regex = pattern->find("Regex"); regex != pattern->end() && regex->is_string()) {
    spec->split_pattern = regex->get<std::string>();
  } else if (const auto literal = pattern->find("String"); literal != pattern->end() && literal->is_string()) {
    spec->split_pattern = literal->get<std::string>();
    spec->split_literal = true;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(field, ".pattern: needs a \"Regex\" or \"String\""));
  }
  if (spec->split_pattern.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".pattern: empty"));
  }
  const auto behavior = split.find("behavior");
  if (behavior == split.end() || !behavior->is_string() || behavior->get<std::string>() != "Isolated") {
    return Unsupported(absl::StrCat(field, " with behavior ",
                                    behavior == split.end() ? "(missing)" : behavior->dump(),
                                    " (supported: \"Isolated\")"));
  }
  if (FlagSet(split, "invert")) return Unsupported(absl::StrCat(field, " with invert=true"));
  return absl::OkStatus();
}

absl::Status ParsePreTokenizer(const Json& root, TokenizerSpec* spec) {
  const auto it = root.find("pre_tokenizer");
  if (it == root.end() || it->is_null()) {
    return Unsupported("a missing pre_tokenizer (byte-level BPE needs ByteLevel)");
  }
  ASSIGN_OR_RETURN(std::string type, TypeOf(*it, "pre_tokenizer"));
  std::vector<std::pair<const Json*, std::string>> steps;
  if (type == "Sequence") {
    const auto list = it->find("pretokenizers");
    if (list == it->end() || !list->is_array()) {
      return absl::InvalidArgumentError("pre_tokenizer.pretokenizers: missing or not an array");
    }
    for (size_t i = 0; i < list->size(); ++i) {
      steps.emplace_back(&(*list)[i], absl::StrCat("pre_tokenizer.pretokenizers[", i, "]"));
    }
  } else {
    steps.emplace_back(&*it, "pre_tokenizer");
  }
  bool have_split = false;
  bool have_byte_level = false;
  for (const auto& [step, field] : steps) {
    ASSIGN_OR_RETURN(std::string step_type, TypeOf(*step, field));
    if (have_byte_level) return Unsupported(absl::StrCat(field, " after ByteLevel"));
    if (step_type == "Split") {
      if (have_split) return Unsupported(absl::StrCat("a second Split at ", field));
      RETURN_IF_ERROR(ParseSplit(*step, field, spec));
      have_split = true;
    } else if (step_type == "ByteLevel") {
      // HF's default for a missing use_regex is true (the GPT-2 regex).
      const auto use_regex = step->find("use_regex");
      if (use_regex == step->end() || !use_regex->is_boolean() || use_regex->get<bool>()) {
        return Unsupported(absl::StrCat(field, " ByteLevel with use_regex=true"));
      }
      if (FlagSet(*step, "add_prefix_space")) {
        return Unsupported(absl::StrCat(field, " ByteLevel with add_prefix_space=true"));
      }
      have_byte_level = true;
    } else {
      return Unsupported(absl::StrCat(field, " of type \"", step_type, "\" (supported: Split, ByteLevel)"));
    }
  }
  if (!have_byte_level) return Unsupported("a pre_tokenizer without ByteLevel");
  return absl::OkStatus();
}

absl::Status ParseDecoder(const Json& root) {
  const auto it = root.find("decoder");
  if (it == root.end() || it->is_null()) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::string type, TypeOf(*it, "decoder"));
  if (type != "ByteLevel") return Unsupported(absl::StrCat("decoder of type \"", type, "\" (supported: ByteLevel)"));
  return absl::OkStatus();
}

absl::StatusOr<TokenId> ParseId(const Json& value, absl::string_view field) {
  if (!value.is_number_integer()) return absl::InvalidArgumentError(absl::StrCat(field, ": id is not an integer"));
  const int64_t id = value.get<int64_t>();
  if (id < 0 || id > std::numeric_limits<TokenId>::max()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": id ", id, " out of range"));
  }
  return static_cast<TokenId>(id);
}

absl::Status ParseModel(const Json& root, TokenizerSpec* spec) {
  const auto model = root.find("model");
  if (model == root.end() || model->is_null()) return absl::InvalidArgumentError("model: missing");
  ASSIGN_OR_RETURN(std::string type, TypeOf(*model, "model"));
  if (!type.empty() && type != "BPE") return Unsupported(absl::StrCat("model of type \"", type, "\" (supported: BPE)"));
  if (const auto dropout = model->find("dropout");
      dropout != model->end() && !dropout->is_null() && !(dropout->is_number() && dropout->get<double>() == 0.0)) {
    return Unsupported("model.dropout");
  }
  if (FlagSet(*model, "byte_fallback")) return Unsupported("model.byte_fallback=true");
  if (FlagSet(*model, "ignore_merges")) return Unsupported("model.ignore_merges=true");
  if (!EmptyOrAbsent(*model, "continuing_subword_prefix")) return Unsupported("model.continuing_subword_prefix");
  if (!EmptyOrAbsent(*model, "end_of_word_suffix")) return Unsupported("model.end_of_word_suffix");

  const auto vocab = model->find("vocab");
  if (vocab == model->end() || !vocab->is_object()) {
    return absl::InvalidArgumentError("model.vocab: missing or not an object");
  }
  spec->vocab.reserve(vocab->size());
  for (const auto& [token, id_value] : vocab->items()) {
    ASSIGN_OR_RETURN(TokenId id, ParseId(id_value, absl::StrCat("model.vocab[\"", token, "\"]")));
    spec->vocab.emplace(token, id);
  }

  const auto merges = model->find("merges");
  if (merges == model->end() || !merges->is_array()) {
    return absl::InvalidArgumentError("model.merges: missing or not an array");
  }
  spec->merges.reserve(merges->size());
  for (size_t i = 0; i < merges->size(); ++i) {
    const Json& merge = (*merges)[i];
    // Two spellings exist: "a b" (tokenizers < 0.20) and ["a", "b"].
    if (merge.is_string()) {
      const std::string& line = merge.get_ref<const std::string&>();
      const size_t space = line.find(' ');
      if (space == std::string::npos || space == 0 || space + 1 == line.size() ||
          line.find(' ', space + 1) != std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat("model.merges[", i, "]: \"", line, "\" is not \"a b\""));
      }
      spec->merges.emplace_back(line.substr(0, space), line.substr(space + 1));
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
      spec->merges.emplace_back(merge[0].get<std::string>(), merge[1].get<std::string>());
    } else {
      return absl::InvalidArgumentError(absl::StrCat("model.merges[", i, "]: not \"a b\" or [\"a\", \"b\"]"));
    }
  }
  return absl::OkStatus();
}

absl::Status ParseAddedTokens(const Json& root, TokenizerSpec* spec) {
  const auto added = root.find("added_tokens");
  if (added == root.end() || added->is_null()) return absl::OkStatus();
  if (!added->is_array()) return absl::InvalidArgumentError("added_tokens: not an array");
  for (size_t i = 0; i < added->size(); ++i) {
    const std::string field = absl::StrCat("added_tokens[", i, "]");
    const Json& entry = (*added)[i];
    if (!entry.is_object()) return absl::InvalidArgumentError(absl::StrCat(field, ": not an object"));
    AddedTokenSpec token;
    const auto id = entry.find("id");
    if (id == entry.end()) return absl::InvalidArgumentError(absl::StrCat(field, ".id: missing"));
    ASSIGN_OR_RETURN(token.id, ParseId(*id, absl::StrCat(field, ".id")));
    const auto content = entry.find("content");
    if (content == entry.end() || !content->is_string() || content->get_ref<const std::string&>().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".content: missing, not a string or empty"));
    }
    token.content = content->get<std::string>();
    token.special = FlagSet(entry, "special");
    for (const char* flag : {"lstrip", "rstrip", "single_word"}) {
      if (FlagSet(entry, flag)) {
        return Unsupported(absl::StrCat(field, " (\"", token.content, "\") with ", flag, "=true"));
      }
    }
    spec->added_tokens.push_back(std::move(token));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TokenizerSpec> ParseTokenizerJson(std::string_view json_text) {
  // nlohmann reports through exceptions; none may leave this module.
  try {
    const Json root = Json::parse(json_text.begin(), json_text.end());
    if (!root.is_object()) return absl::InvalidArgumentError("tokenizer JSON: top level is not an object");
    TokenizerSpec spec;
    RETURN_IF_ERROR(ParseModel(root, &spec));
    RETURN_IF_ERROR(ParseAddedTokens(root, &spec));
    RETURN_IF_ERROR(ParseNormalizer(root, &spec));
    RETURN_IF_ERROR(ParsePreTokenizer(root, &spec));
    RETURN_IF_ERROR(ParseDecoder(root));
    return spec;
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer JSON: ", e.what()));
  }
}

}  // namespace ovserve::engine
