// SPDX-License-Identifier: Apache-2.0
// Text kernels of the misc family: StringNormalizer (stopwords, case change; ASCII letters
// only change case) and TfIdfVectorizer (n-gram counts with skips over int or string tokens).
// Registered from register_misc_kernels (misc.cpp); tested in tests/runtime/test_misc.cpp.
#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <variant>

#include "kernel_families.h"
#include "kernel_util.h"

namespace qforge::kernels {

namespace {

std::string ascii_lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string ascii_upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// ---- StringNormalizer: input [C] or [1, C] ----

void string_normalizer(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.dtype() != DataType::String || !(x.rank() == 1 || (x.rank() == 2 && x.dim(0) == 1)))
    fail(ErrorKind::InvalidModel,
         "{}: input must be a string tensor of shape [C] or [1, C], got {} {}", ctx.op().describe(),
         dtype_name(x.dtype()), shape_to_string(x.shape()));
  const std::string action = ctx.attr_string("case_change_action", "NONE");
  if (action != "NONE" && action != "LOWER" && action != "UPPER")
    fail(ErrorKind::InvalidModel, "{}: unknown case_change_action '{}'", ctx.op().describe(),
         action);
  const bool case_sensitive = ctx.attr_int("is_case_sensitive", 0) != 0;
  const Attribute* stop_attr = ctx.op().find_attr("stopwords");
  std::set<std::string> stopwords;
  if (stop_attr)
    for (const std::string& w : stop_attr->strings)
      stopwords.insert(case_sensitive ? w : ascii_lower(w));
  std::vector<std::string> kept;
  for (const std::string& s : x.strings()) {
    if (stopwords.count(case_sensitive ? s : ascii_lower(s))) continue;
    kept.push_back(action == "LOWER" ? ascii_lower(s) : action == "UPPER" ? ascii_upper(s) : s);
  }
  // Everything removed: one empty string, as ONNX Runtime returns.
  if (kept.empty()) kept.emplace_back();
  const int64_t count = static_cast<int64_t>(kept.size());
  Tensor& y =
      ctx.allocate_output(0, DataType::String, x.rank() == 1 ? Shape{count} : Shape{1, count});
  y.strings() = std::move(kept);
}

// ---- TfIdfVectorizer ----

using Token = std::variant<int64_t, std::string>;

std::vector<Token> tokens_of(const KernelContext& ctx, const Tensor& x) {
  std::vector<Token> out;
  if (x.dtype() == DataType::String) {
    out.assign(x.strings().begin(), x.strings().end());
  } else if (x.dtype() == DataType::Int32 || x.dtype() == DataType::Int64) {
    for (int64_t v : x.to_int64_vector()) out.emplace_back(v);
  } else {
    fail(ErrorKind::UnsupportedOp, "{}: input dtype {} is not supported", ctx.op().describe(),
         dtype_name(x.dtype()));
  }
  return out;
}

// The pool: n-gram (as tokens) -> output index, for each n.
std::map<std::vector<Token>, int64_t> read_pool(const KernelContext& ctx, int64_t& output_size) {
  const Operation& op = ctx.op();
  const std::vector<int64_t> counts = ctx.attr_ints("ngram_counts");
  const std::vector<int64_t> indexes = ctx.attr_ints("ngram_indexes");
  std::vector<Token> pool;
  if (const Attribute* s = op.find_attr("pool_strings"); s && !s->strings.empty())
    pool.assign(s->strings.begin(), s->strings.end());
  else
    for (int64_t v : ctx.attr_ints("pool_int64s")) pool.emplace_back(v);
  std::map<std::vector<Token>, int64_t> grams;
  size_t gram_number = 0;
  for (size_t level = 0; level < counts.size(); ++level) {
    const size_t n = level + 1;
    const size_t begin = static_cast<size_t>(counts[level]);
    const size_t end =
        level + 1 < counts.size() ? static_cast<size_t>(counts[level + 1]) : pool.size();
    if (begin > end || end > pool.size() || (end - begin) % n != 0)
      fail(ErrorKind::InvalidModel, "{}: ngram_counts do not split the pool into {}-grams",
           op.describe(), n);
    for (size_t i = begin; i < end; i += n, ++gram_number) {
      if (gram_number >= indexes.size())
        fail(ErrorKind::InvalidModel,
             "{}: ngram_indexes has fewer entries than the pool has n-grams", op.describe());
      grams[std::vector<Token>(pool.begin() + static_cast<int64_t>(i),
                               pool.begin() + static_cast<int64_t>(i + n))] = indexes[gram_number];
    }
  }
  output_size = indexes.empty() ? 0 : *std::max_element(indexes.begin(), indexes.end()) + 1;
  return grams;
}

// Counts, for one row, every pool n-gram with min_gram <= n <= max_gram whose tokens are
// spaced skip + 1 apart (skip <= max_skip); unigrams are counted once, not once per skip.
void count_row(const std::vector<Token>& row, const std::map<std::vector<Token>, int64_t>& grams,
               int64_t min_gram, int64_t max_gram, int64_t max_skip, float* counts) {
  const int64_t len = static_cast<int64_t>(row.size());
  std::vector<Token> gram;
  for (int64_t n = std::max<int64_t>(min_gram, 1); n <= max_gram; ++n)
    for (int64_t skip = 0; skip <= (n == 1 ? 0 : max_skip); ++skip)
      for (int64_t start = 0; start + (n - 1) * (skip + 1) < len; ++start) {
        gram.clear();
        for (int64_t k = 0; k < n; ++k) gram.push_back(row[start + k * (skip + 1)]);
        if (auto it = grams.find(gram); it != grams.end()) counts[it->second] += 1.0f;
      }
}

void tfidf_vectorizer(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.rank() != 1 && x.rank() != 2)
    fail(ErrorKind::Shape, "{}: input must be [C] or [N, C], got {}", ctx.op().describe(),
         shape_to_string(x.shape()));
  int64_t size = 0;
  const auto grams = read_pool(ctx, size);
  const int64_t min_gram = ctx.attr_int("min_gram_length", 1),
                max_gram = ctx.attr_int("max_gram_length", 1);
  const int64_t max_skip = ctx.attr_int("max_skip_count", 0);
  const std::string mode = ctx.attr_string("mode", "TF");
  if (mode != "TF" && mode != "IDF" && mode != "TFIDF")
    fail(ErrorKind::InvalidModel, "{}: unknown mode '{}'", ctx.op().describe(), mode);
  std::vector<float> weights = ctx.attr_floats("weights");
  if (!weights.empty() && static_cast<int64_t>(weights.size()) < size)
    fail(ErrorKind::InvalidModel, "{}: {} weights for {} outputs", ctx.op().describe(),
         weights.size(), size);
  const std::vector<Token> tokens = tokens_of(ctx, x);
  const int64_t rows = x.rank() == 1 ? 1 : x.dim(0), width = x.rank() == 1 ? x.dim(0) : x.dim(1);
  Tensor& y =
      ctx.allocate_output(0, DataType::Float, x.rank() == 1 ? Shape{size} : Shape{rows, size});
  float* out = y.data<float>();
  for (int64_t r = 0; r < rows; ++r) {
    const std::vector<Token> row(tokens.begin() + r * width, tokens.begin() + (r + 1) * width);
    float* counts = out + r * size;
    count_row(row, grams, min_gram, max_gram, max_skip, counts);
    for (int64_t i = 0; i < size; ++i) {
      const float w = weights.empty() ? 1.0f : weights[i];
      if (mode == "IDF")
        counts[i] = counts[i] > 0 ? w : 0.0f;
      else if (mode == "TFIDF")
        counts[i] *= w;
    }
  }
}

}  // namespace

void register_text_kernels(KernelRegistry& registry) {
  registry.add("", "StringNormalizer", 10, kLatestOpset, string_normalizer);
  registry.add("", "TfIdfVectorizer", 9, kLatestOpset, tfidf_vectorizer);
}

}  // namespace qforge::kernels
