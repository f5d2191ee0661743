// SPDX-License-Identifier: Apache-2.0
// Kernel family: gemm (this file: Einsum). Any equation (explicit or implicit output,
// ellipsis broadcasting, repeated labels as diagonals) as one loop over the output labels and
// the summed labels. Registered through register_gemm_kernels (gemm.cpp); tested in
// tests/runtime/test_gemm.cpp.
#include <algorithm>
#include <cctype>
#include <string>

#include "kernel_families.h"
#include "kernel_util.h"
#include "nn_util.h"

namespace qforge::kernels {

namespace {

constexpr int kLetters = 52;  // a-z, A-Z; ellipsis dims take ids from kLetters on

int letter_id(char c) {
  return std::islower(static_cast<unsigned char>(c)) ? c - 'a' : 26 + (c - 'A');
}

// One term of the equation as label ids; `ellipsis_at` is where "..." sits (-1: none).
struct Term {
  std::vector<int> letters;
  int ellipsis_at = -1;
};

Term parse_term(const KernelContext& ctx, const std::string& text) {
  Term t;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '.') {
      if (t.ellipsis_at >= 0 || text.compare(i, 3, "...") != 0)
        fail(ErrorKind::InvalidModel, "{}: bad ellipsis in equation term '{}'", ctx.op().describe(),
             text);
      t.ellipsis_at = static_cast<int>(t.letters.size());
      i += 2;
    } else if (std::isalpha(static_cast<unsigned char>(c))) {
      t.letters.push_back(letter_id(c));
    } else {
      fail(ErrorKind::InvalidModel, "{}: bad character '{}' in equation", ctx.op().describe(), c);
    }
  }
  return t;
}

// The label of every axis: letters, with the ellipsis expanded into ids kLetters + j where j
// counts the broadcast ellipsis dims right-aligned to `ellipsis_rank`.
std::vector<int> axis_labels(const Term& t, int ellipsis_dims, int ellipsis_rank) {
  std::vector<int> labels;
  for (size_t i = 0; i <= t.letters.size(); ++i) {
    if (static_cast<int>(i) == t.ellipsis_at)
      for (int j = 0; j < ellipsis_dims; ++j)
        labels.push_back(kLetters + ellipsis_rank - ellipsis_dims + j);
    if (i < t.letters.size()) labels.push_back(t.letters[i]);
  }
  return labels;
}

struct EinsumPlan {
  std::vector<int> loop;                      // label ids: output labels first, then summed
  std::vector<int64_t> sizes;                 // per loop label
  size_t num_out = 0;                         // number of output labels
  std::vector<std::vector<int64_t>> strides;  // per input, per loop label (summed for diagonals)
  Shape out_shape;
  std::vector<std::vector<int>> labels;  // per input, per axis
  bool simple = true;                    // no diagonal and no broadcast dim in any input
};

EinsumPlan plan_einsum(const KernelContext& ctx, std::string eq,
                       const std::vector<const Tensor*>& ins) {
  eq.erase(std::remove(eq.begin(), eq.end(), ' '), eq.end());
  const size_t arrow = eq.find("->");
  const std::string lhs = eq.substr(0, arrow);
  std::vector<Term> terms;
  for (size_t start = 0;;) {
    const size_t comma = lhs.find(',', start);
    terms.push_back(
        parse_term(ctx, lhs.substr(start, comma == std::string::npos ? comma : comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (terms.size() != ins.size())
    fail(ErrorKind::InvalidModel, "{}: equation has {} operands, got {} inputs",
         ctx.op().describe(), terms.size(), ins.size());
  int ellipsis_rank = 0;
  std::vector<int> ellipsis_dims(terms.size(), 0);
  for (size_t i = 0; i < terms.size(); ++i) {
    const int rest = ins[i]->rank() - static_cast<int>(terms[i].letters.size());
    if (rest < 0 || (terms[i].ellipsis_at < 0 && rest != 0))
      fail(ErrorKind::Shape, "{}: operand {} of shape {} does not match its equation term",
           ctx.op().describe(), i, shape_to_string(ins[i]->shape()));
    ellipsis_dims[i] = terms[i].ellipsis_at < 0 ? 0 : rest;
    ellipsis_rank = std::max(ellipsis_rank, ellipsis_dims[i]);
  }
  std::vector<int64_t> label_size(kLetters + ellipsis_rank, -1);
  std::vector<int> label_count(kLetters + ellipsis_rank, 0);
  std::vector<std::vector<int>> labels(terms.size());
  for (size_t i = 0; i < terms.size(); ++i) {
    labels[i] = axis_labels(terms[i], ellipsis_dims[i], ellipsis_rank);
    for (size_t d = 0; d < labels[i].size(); ++d) {
      int64_t& size = label_size[labels[i][d]];
      const int64_t dim = ins[i]->dim(static_cast<int>(d));
      if (size >= 0 && size != dim && size != 1 && dim != 1)
        fail(ErrorKind::Shape, "{}: label sizes {} and {} disagree", ctx.op().describe(), size,
             dim);
      size = std::max(size, dim);
      ++label_count[labels[i][d]];
    }
  }
  std::vector<int> out_labels;
  if (arrow != std::string::npos) {
    const Term out = parse_term(ctx, eq.substr(arrow + 2));
    out_labels = axis_labels(out, out.ellipsis_at < 0 ? 0 : ellipsis_rank, ellipsis_rank);
    for (int l : out_labels)
      if (label_size[l] < 0)
        fail(ErrorKind::InvalidModel, "{}: output label not in any input", ctx.op().describe());
  } else {
    // Implicit output: the ellipsis dims, then the letters used once, in alphabetical order.
    for (int j = 0; j < ellipsis_rank; ++j) out_labels.push_back(kLetters + j);
    std::string once;
    for (int l = 0; l < kLetters; ++l)
      if (label_count[l] == 1) once.push_back(static_cast<char>(l < 26 ? 'a' + l : 'A' + l - 26));
    std::sort(once.begin(), once.end());
    for (char c : once) out_labels.push_back(letter_id(c));
  }
  EinsumPlan p;
  std::vector<int> loop = out_labels;
  p.num_out = loop.size();
  for (int l = 0; l < static_cast<int>(label_size.size()); ++l)
    if (label_size[l] >= 0 &&
        std::find(out_labels.begin(), out_labels.end(), l) == out_labels.end())
      loop.push_back(l);
  for (int l : loop) p.sizes.push_back(std::max<int64_t>(label_size[l], 0));
  p.loop = loop;
  p.labels = labels;
  for (const std::vector<int>& ls : labels)
    for (size_t d = 0; d < ls.size(); ++d)
      if (std::find(ls.begin() + static_cast<std::ptrdiff_t>(d) + 1, ls.end(), ls[d]) != ls.end())
        p.simple = false;
  for (int l : out_labels) p.out_shape.push_back(std::max<int64_t>(label_size[l], 0));
  for (size_t i = 0; i < ins.size(); ++i) {
    const std::vector<int64_t> st = contiguous_strides(ins[i]->shape());
    std::vector<int64_t> per_loop(loop.size(), 0);
    for (size_t d = 0; d < labels[i].size(); ++d) {
      const size_t pos = std::find(loop.begin(), loop.end(), labels[i][d]) - loop.begin();
      if (ins[i]->dim(static_cast<int>(d)) != p.sizes[pos] || per_loop[pos] != 0) p.simple = false;
      if (ins[i]->dim(static_cast<int>(d)) == 1) continue;  // broadcast
      per_loop[pos] += st[d];
    }
    p.strides.push_back(per_loop);
  }
  return p;
}

// dst = src transposed so that dst axis d is src axis axes[d].
template <typename T>
void permute(const T* src, const Shape& shape, const std::vector<int>& axes, T* dst) {
  const std::vector<int64_t> st = contiguous_strides(shape);
  Shape ds;
  std::vector<int64_t> dst_strides;
  for (int a : axes) {
    ds.push_back(shape[a]);
    dst_strides.push_back(st[a]);
  }
  const int64_t total = shape_numel(shape);
  std::vector<int64_t> idx(ds.size(), 0);
  int64_t off = 0;
  for (int64_t i = 0; i < total; ++i) {
    dst[i] = src[off];
    for (size_t d = ds.size(); d-- > 0;) {
      off += dst_strides[d];
      if (++idx[d] < ds[d]) break;
      off -= dst_strides[d] * ds[d];
      idx[d] = 0;
    }
  }
}

// Two operands without diagonals or broadcasting: transpose into [batch, M, K] x [batch, K, N]
// and run batched GEMMs. False when a label needs a reduction inside one operand.
template <typename T>
bool einsum_as_matmul(const EinsumPlan& p, const Tensor& a, const Tensor& b, T* out, int threads) {
  std::vector<int> batch, m, n, k;
  const auto has = [](const std::vector<int>& v, int l) {
    return std::find(v.begin(), v.end(), l) != v.end();
  };
  for (size_t i = 0; i < p.loop.size(); ++i) {
    const int l = p.loop[i];
    const bool in_a = has(p.labels[0], l), in_b = has(p.labels[1], l), in_out = i < p.num_out;
    if (in_a && in_b)
      (in_out ? batch : k).push_back(l);
    else if (in_out)
      (in_a ? m : n).push_back(l);
    else
      return false;
  }
  const auto size_of = [&](const std::vector<int>& ls) {
    int64_t v = 1;
    for (int l : ls) v *= p.sizes[std::find(p.loop.begin(), p.loop.end(), l) - p.loop.begin()];
    return v;
  };
  const auto axes_of = [](const std::vector<int>& axis_labels,
                          std::vector<std::vector<int>> groups) {
    std::vector<int> axes;
    for (const auto& g : groups)
      for (int l : g)
        axes.push_back(static_cast<int>(std::find(axis_labels.begin(), axis_labels.end(), l) -
                                        axis_labels.begin()));
    return axes;
  };
  const int64_t nb = size_of(batch), nm = size_of(m), nn = size_of(n), nk = size_of(k);
  std::vector<T> at(static_cast<size_t>(a.numel())), bt(static_cast<size_t>(b.numel())),
      r(static_cast<size_t>(nb * nm * nn));
  permute(a.data<T>(), a.shape(), axes_of(p.labels[0], {batch, m, k}), at.data());
  permute(b.data<T>(), b.shape(), axes_of(p.labels[1], {batch, k, n}), bt.data());
  const bool per_thread = nb >= threads && nm * nn * nk < (1 << 20);
  parallel_for(per_thread ? threads : 1, nb, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t i = b0; i < b1; ++i)
      gemm<T>(false, false, nm, nn, nk, T(1), at.data() + i * nm * nk, nk, bt.data() + i * nk * nn,
              nn, T(0), r.data() + i * nm * nn, nn, per_thread ? 1 : threads);
  });
  // r is laid out as [batch..., m..., n...]; the output wants the equation's order.
  std::vector<int> r_labels = batch;
  r_labels.insert(r_labels.end(), m.begin(), m.end());
  r_labels.insert(r_labels.end(), n.begin(), n.end());
  Shape r_shape;
  for (int l : r_labels) r_shape.push_back(size_of({l}));
  const std::vector<int> out_labels(p.loop.begin(),
                                    p.loop.begin() + static_cast<std::ptrdiff_t>(p.num_out));
  permute(r.data(), r_shape, axes_of(r_labels, {out_labels}), out);
  return true;
}

template <typename T>
void run_einsum(const EinsumPlan& p, const std::vector<const T*>& in, T* out, int threads) {
  using Acc = std::conditional_t<std::is_floating_point_v<T>, double, T>;
  const size_t loops = p.sizes.size(), n_in = in.size();
  int64_t out_count = 1, sum_count = 1;
  for (size_t l = 0; l < loops; ++l) (l < p.num_out ? out_count : sum_count) *= p.sizes[l];
  parallel_for(threads, out_count, 256, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> idx(loops), off(n_in);
    for (int64_t o = begin; o < end; ++o) {
      // Decompose o into the output labels, then run over the summed labels.
      int64_t rest = o;
      for (size_t l = p.num_out; l-- > 0;) {
        idx[l] = rest % p.sizes[l];
        rest /= p.sizes[l];
      }
      std::fill(idx.begin() + p.num_out, idx.end(), 0);
      Acc acc = 0;
      for (int64_t s = 0; s < sum_count; ++s) {
        Acc prod = 1;
        for (size_t i = 0; i < n_in; ++i) {
          int64_t offset = 0;
          for (size_t l = 0; l < loops; ++l) offset += idx[l] * p.strides[i][l];
          prod *= static_cast<Acc>(in[i][offset]);
        }
        acc += prod;
        for (size_t l = loops; l-- > p.num_out;) {
          if (++idx[l] < p.sizes[l]) break;
          idx[l] = 0;
        }
      }
      out[o] = static_cast<T>(acc);
    }
  });
}

void einsum(KernelContext& ctx) {
  if (needs_widening(ctx)) return run_widened(ctx, einsum);
  std::vector<const Tensor*> ins;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) ins.push_back(&ctx.input(i));
  if (ins.empty()) fail(ErrorKind::InvalidModel, "{}: Einsum needs inputs", ctx.op().describe());
  for (const Tensor* t : ins)
    if (t->dtype() != ins[0]->dtype())
      fail(ErrorKind::InvalidModel, "{}: inputs have different dtypes", ctx.op().describe());
  const EinsumPlan p = plan_einsum(ctx, ctx.attr_string("equation", ""), ins);
  visit_numeric_dtype(ins[0]->dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
      std::vector<const T*> data;
      for (const Tensor* t : ins) data.push_back(t->data<T>());
      Tensor& y = ctx.allocate_output(0, ins[0]->dtype(), p.out_shape);
      if constexpr (std::is_floating_point_v<T>) {
        if (ins.size() == 2 && p.simple &&
            einsum_as_matmul<T>(p, *ins[0], *ins[1], y.data<T>(), ctx.num_threads()))
          return;
      }
      run_einsum<T>(p, data, y.data<T>(), ctx.num_threads());
    } else {
      fail(ErrorKind::UnsupportedOp, "{}: dtype {} is not supported", ctx.op().describe(),
           dtype_name(ins[0]->dtype()));
    }
  });
}

}  // namespace

void register_einsum_kernels(KernelRegistry& registry) {
  registry.add("", "Einsum", 12, kLatestOpset, einsum);
}

}  // namespace qforge::kernels
