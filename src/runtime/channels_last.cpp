// SPDX-License-Identifier: Apache-2.0
// The channels-last pass (qforge/channels_last.h). Walks the graph in topological order: every
// eligible Conv joins a chain (its input converted by a Transpose unless it is channels-last
// already); pooling, element-wise and Concat ops join when their inputs are channels-last. A
// rewritten op writes a new "<name>/channels_last" variable; the original variable, when still
// read outside the chains or a graph output, is computed back from it by a Transpose. Tested
// in tests/runtime/test_channels_last.cpp.
#include "qforge/channels_last.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "conv_chains.h"
#include "inference_pass_util.h"
#include "kernels/conv_channels_last.h"

namespace qforge {

namespace {

constexpr int64_t kToChannelsLast[] = {0, 2, 3, 1};
constexpr int64_t kToChannelsFirst[] = {0, 3, 1, 2};

// A float scalar known before running.
std::optional<float> constant_scalar(const Variable* v) {
  const Tensor* t = constant_value(v);
  if (!t || !t->defined() || t->numel() != 1 || t->dtype() != DataType::Float) return std::nullopt;
  return t->to_float_vector()[0];
}

// [N, C, H, W] with C, H and W known (N may be symbolic): the shapes the pass can convert.
bool is_image(const Variable* v) {
  return v && v->dtype == DataType::Float && v->shape && v->shape->size() == 4 &&
         (*v->shape)[1].is_static() && (*v->shape)[2].is_static() && (*v->shape)[3].is_static();
}

// A float constant (parameter or Constant output) of the given rank.
bool is_float_constant(const Variable* v, size_t rank) {
  const Tensor* t = constant_value(v);
  return t && t->defined() && t->dtype() == DataType::Float &&
         static_cast<size_t>(t->rank()) == rank;
}

bool all_ones(const std::vector<int64_t>& values) {
  return std::all_of(values.begin(), values.end(), [](int64_t v) { return v == 1; });
}

const std::unordered_set<std::string>& elementwise_unary() {
  static const std::unordered_set<std::string> ops{
      "Relu", "Clip",     "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid", "HardSwish", "Elu",
      "Selu", "Softplus", "Abs",     "Neg",  "Exp",       "Sqrt",        "Erf",       "Identity"};
  return ops;
}

bool is_transpose(const Operation* op, const int64_t (&perm)[4]) {
  return op && is_standard(*op) && op->type == "Transpose" &&
         op->attr_ints("perm") == std::vector<int64_t>(std::begin(perm), std::end(perm));
}

// A value a Transpose made from channels-last data ([N, H, W, C] -> [N, C, H, W], as models
// converted from TensorFlow start): its twin is that data, no Transpose needed.
Variable* channels_last_source(const Variable* v) {
  const Operation* p = v ? v->producer() : nullptr;
  return is_transpose(p, kToChannelsFirst) ? p->input(0) : nullptr;
}

// A ConstantOfShape of a constant 4-D shape (a zero fill that pads channels, in BlazeFace): in
// a chain, made again with the shape permuted.
bool is_constant_fill(const Variable* v) {
  const Operation* p = v ? v->producer() : nullptr;
  if (!p || !is_standard(*p) || p->type != "ConstantOfShape") return false;
  const Tensor* shape = constant_value(p->input(0));
  const Tensor* value = p->attr_tensor("value");  // absent: float zeros
  return shape && shape->dtype() == DataType::Int64 && shape->numel() == 4 &&
         (!value || value->dtype() == DataType::Float);
}

// Global pools read a chain value and write [N, C, 1, 1], which is the same memory as
// [N, 1, 1, C]: they end a chain without a Transpose.
bool is_global_pool(const Operation& op) {
  return op.type == "GlobalAveragePool" || op.type == "GlobalMaxPool";
}

const std::unordered_set<std::string>& elementwise_binary() {
  static const std::unordered_set<std::string> ops{"Add", "Sub", "Mul", "Div", "Max", "Min"};
  return ops;
}

// Which ops join chains: decided on the unchanged graph, so that a chain whose conversions
// would cost more than it saves can be left out whole.
class ChannelsLastRewrite {
 public:
  ChannelsLastRewrite(Graph& graph, const ChannelsLastOptions& options, int threads)
      : graph_(graph), options_(options), threads_(threads) {}

  ChannelsLastSummary run() {
    graph_.topological_sort();
    std::vector<Operation*> order;
    for (const auto& op : graph_.operations()) order.push_back(op.get());
    read_by_subgraphs_ = names_read_by_subgraphs(graph_);
    for (Operation* op : order)
      if (is_standard(*op) && op->subgraphs().empty() && joins(op)) {
        position_[op] = static_cast<int64_t>(members_.size());
        members_.push_back(op);
        if (!is_global_pool(*op))
          for (Variable* out : op->outputs()) in_chain_.insert(out);
      }
    keep_chains_that_pay();
    for (Operation* op : members_) {
      if (!kept_.count(op) || fused_.count(op)) continue;
      rewrite(op);
    }
    for (Operation* op : fused_) graph_.remove_operation(op);
    add_exit_transposes();
    remove_unread_ops();
    graph_.remove_unused_variables();
    graph_.topological_sort();
    if (summary_.convs > 0) graph_.model.set_opset(kernels::kChannelsLastDomain, 1);
    return summary_;
  }

 private:
  bool computed_in_chain(const Variable* v) const { return in_chain_.count(v) > 0; }

  // ---- which ops join (the graph is not changed yet) ----

  bool joins(Operation* op) {
    if (op->type == "Conv") return conv_joins(op);
    if (op->type == "MaxPool" || op->type == "AveragePool") return pool_joins(*op);
    if (elementwise_unary().count(op->type))
      return op->input(0) && computed_in_chain(op->input(0)) && op->num_outputs() == 1;
    if (elementwise_binary().count(op->type)) return binary_joins(*op);
    if (op->type == "Concat") return concat_joins(*op);
    if (is_global_pool(*op))
      return op->input(0) && computed_in_chain(op->input(0)) && is_image(op->input(0)) &&
             op->num_outputs() == 1;
    return false;
  }

  bool conv_joins(Operation* op) {
    Variable* x = op->input(0);
    Variable* w = op->input(1);
    Variable* b = op->num_inputs() > 2 ? op->input(2) : nullptr;
    if (!is_image(x) || !is_float_constant(w, 4) || (b && !is_float_constant(b, 1)) ||
        op->num_outputs() != 1 || op->num_inputs() > 3)
      return false;
    const auto& s = *x->shape;
    const Shape sample{1, s[1].value, s[2].value, s[3].value};
    // Packing waits for the rewrite: the Conv's chain may not pay.
    try {
      return kernels::channels_last_conv_supported(*op, sample, constant_value(w)->shape(),
                                                   b != nullptr, threads_);
    } catch (const Error&) {
      return false;  // a malformed Conv: left for the Conv kernel to report
    }
  }

  bool pool_joins(const Operation& op) const {
    const Variable* x = op.input(0);
    // A pool starts no chain of its own (two Transposes for one pass over the data), unless
    // every eligible op is to be converted.
    if (!x || !(computed_in_chain(x) || !options_.only_chains_that_pay) || !is_image(x) ||
        op.num_outputs() != 1 || op.attr_int("storage_order", 0) != 0 ||
        !all_ones(op.attr_ints("dilations")) || op.attr_ints("kernel_shape").size() != 2)
      return false;
    // ONNX counts a ceil-mode window's overhang as padding when count_include_pad is set;
    // the channels-last kernel does not.
    return !(op.type == "AveragePool" && op.attr_int("ceil_mode", 0) &&
             op.attr_int("count_include_pad", 0));
  }

  bool binary_joins(const Operation& op) const {
    const Variable* a = op.input(0);
    const Variable* b = op.input(1);
    if (!a || !b || op.num_inputs() != 2 || op.num_outputs() != 1) return false;
    const bool a_in = computed_in_chain(a), b_in = computed_in_chain(b);
    if (a_in && b_in) return a->shape && b->shape && *a->shape == *b->shape && is_image(a);
    // A one-element constant of rank <= 4 broadcasts without changing the output's shape.
    const auto scalar = [](const Variable* v) {
      const Tensor* t = constant_value(v);
      return constant_scalar(v) && t->rank() <= 4;
    };
    return (a_in && scalar(b)) || (b_in && scalar(a));
  }

  bool concat_joins(const Operation& op) const {
    if (op.num_outputs() != 1 || op.num_inputs() == 0) return false;
    bool chained = false;
    for (const Variable* in : op.inputs()) {
      const bool in_chain = in && computed_in_chain(in) && is_image(in);
      if (!in_chain && !is_constant_fill(in)) return false;
      chained |= in_chain;
    }
    if (!chained) return false;
    const int64_t axis = op.attr_int("axis", 1);
    return axis >= -4 && axis <= 3;
  }

  // Chains (ops linked by channels-last values) are kept when their Transposes in and out are
  // few next to their Convs (each Conv saves about what a Transpose costs) and oneDNN's memory
  // per Conv is small next to the chain's weights and values.
  void keep_chains_that_pay() {
    std::unordered_map<const Operation*, const Operation*> parent;
    const auto find = [&](const Operation* op) {
      while (parent.at(op) != op) op = parent[op] = parent.at(parent.at(op));
      return op;
    };
    for (const Operation* op : members_) parent[op] = op;
    for (const Operation* op : members_)
      for (const Variable* in : op->inputs())
        if (in && computed_in_chain(in)) parent[find(op)] = find(in->producer());
    std::unordered_map<const Operation*, int> convs, conversions;
    std::unordered_map<const Operation*, int64_t> weight_bytes, largest_value;
    std::unordered_map<const Operation*, std::unordered_set<const Variable*>> entries;
    const std::unordered_set<const Operation*> member_set(members_.begin(), members_.end());
    for (const Operation* op : members_) {
      const Operation* chain = find(op);
      if (op->type != "Conv") continue;
      ++convs[chain];
      weight_bytes[chain] += static_cast<int64_t>(constant_value(op->input(1))->nbytes());
      if (!computed_in_chain(op->input(0)) && !channels_last_source(op->input(0)))
        entries[chain].insert(op->input(0));
    }
    for (const auto& [chain, vars] : entries) conversions[chain] += static_cast<int>(vars.size());
    for (const Variable* v : in_chain_) {
      int64_t bytes = 4;  // float; a symbolic batch counts as 1
      for (const Dim& d : v->shape ? *v->shape : std::vector<Dim>{})
        bytes *= d.is_static() ? d.value : 1;
      int64_t& largest = largest_value[find(v->producer())];
      largest = std::max(largest, bytes);
    }
    for (const Variable* v : in_chain_) {
      bool read_outside = graph_.is_graph_output(v) || read_by_subgraphs_.count(v->name);
      for (const Operation* c : v->consumers())
        read_outside |= !member_set.count(c) && !folds_into_twin(c);
      if (read_outside) ++conversions[find(v->producer())];
    }
    for (const Operation* op : members_) {
      const Operation* chain = find(op);
      const bool pays = 2 * conversions[chain] <= convs[chain] &&
                        weight_bytes[chain] + largest_value[chain] >=
                            2 * options_.conv_overhead_bytes * convs[chain];
      if (!options_.only_chains_that_pay || pays) kept_.insert(op);
    }
    in_chain_.clear();  // from here: the values of kept chains only
    for (const Operation* op : members_)
      if (kept_.count(op))
        if (!is_global_pool(*op))
          for (const Variable* out : op->outputs()) in_chain_.insert(out);
  }

  // ---- the rewrite ----

  // The channels-last twin of `v`: made by a rewritten op, or by a Transpose added here.
  Variable* channels_last(Variable* v) {
    if (auto it = twin_.find(v); it != twin_.end()) return it->second;
    if (Variable* source = channels_last_source(v)) return twin_[v] = source;
    Variable* t = new_twin(v);
    graph_.create_operation(
        "Transpose", graph_.unique_operation_name(v->name + "/to_channels_last"), {v}, {t},
        {Attribute::make_ints("perm", {std::begin(kToChannelsLast), std::end(kToChannelsLast)})});
    ++summary_.transposes;
    return t;
  }

  // A ConstantOfShape of the permuted shape, with the same value.
  Variable* channels_last_fill(Variable* v) {
    if (auto it = twin_.find(v); it != twin_.end()) return it->second;
    const Operation* fill = v->producer();
    const std::vector<int64_t> s = constant_value(fill->input(0))->to_int64_vector();
    Variable* shape =
        graph_.create_variable(v->name + "/channels_last_shape",
                               Tensor::from_vector<int64_t>({4}, {s[0], s[2], s[3], s[1]}));
    shape->dtype = DataType::Int64;
    shape->shape = std::vector<Dim>{Dim{4, {}}};
    Variable* t = new_twin(v);
    t->dtype = DataType::Float;
    t->shape = std::vector<Dim>{Dim{s[0], {}}, Dim{s[2], {}}, Dim{s[3], {}}, Dim{s[1], {}}};
    graph_.create_operation("ConstantOfShape",
                            graph_.unique_operation_name(fill->name + "/channels_last"), {shape},
                            {t}, fill->attributes);
    return t;
  }

  Variable* new_twin(Variable* v) {
    Variable* t = graph_.create_variable(v->name + "/channels_last");
    t->dtype = v->dtype;
    if (v->shape && v->shape->size() == 4) {
      const auto& s = *v->shape;
      t->shape = std::vector<Dim>{s[0], s[2], s[3], s[1]};
    }
    twin_[v] = t;
    return t;
  }

  // Output `index` of `op` now writes the twin of the variable it wrote.
  void write_twin(Operation* op, size_t index) {
    Variable* original = op->output(index);
    Variable* twin = new_twin(original);
    graph_.set_output(op, index, twin);
    produced_.push_back(original);
  }

  void make_internal(Operation* op, const std::string& type) {
    op->type = type;
    op->domain = kernels::kChannelsLastDomain;
    op->opset = 1;
  }

  void rewrite(Operation* op) {
    if (op->type == "Conv") return rewrite_conv(op);
    if (is_global_pool(*op)) {  // ends the chain: writes its own output, no twin
      graph_.set_input(op, 0, twin_.at(op->input(0)));
      make_internal(op, "ChannelsLast" + op->type);
      ++summary_.pools;
      return;
    }
    const bool pool = op->type == "MaxPool" || op->type == "AveragePool";
    for (size_t i = 0; i < op->num_inputs(); ++i)
      if (Variable* in = op->input(i); in && computed_in_chain(in))
        graph_.set_input(op, i, twin_.at(in));
      else if (in && pool)  // a pool starting a chain (only_chains_that_pay off)
        graph_.set_input(op, i, channels_last(in));
      else if (in && op->type == "Concat")  // a constant fill (concat_joins checked)
        graph_.set_input(op, i, channels_last_fill(in));
    if (pool) {
      make_internal(op, "ChannelsLast" + op->type);
      ++summary_.pools;
    } else {
      if (op->type == "Concat") {
        constexpr int64_t kAxisInChannelsLast[] = {0, 3, 1, 2};
        const int64_t axis = op->attr_int("axis", 1);
        op->set_attr(Attribute::make_int("axis", kAxisInChannelsLast[axis < 0 ? axis + 4 : axis]));
      }
      ++summary_.other_ops;
    }
    write_twin(op, 0);
  }

  void rewrite_conv(Operation* op) {
    Variable* x = op->input(0);
    graph_.set_input(op, 0, computed_in_chain(x) ? twin_.at(x) : channels_last(x));
    make_internal(op, "ChannelsLastConv");
    fuse_residual_add(op);
    if (options_.fuse_activations) fuse_activation(op);
    pack_weights(op, *x->shape);
    write_twin(op, 0);
    ++summary_.convs;
  }

  // The Conv's weights (a constant) packed for oneDNN's primitive, its fused ops included.
  void pack_weights(Operation* op, const std::vector<Dim>& x_shape) {
    Variable* w = op->input(1);
    std::optional<kernels::PackedConvWeights> packed = kernels::pack_channels_last_conv_weights(
        *op, {1, x_shape[1].value, x_shape[2].value, x_shape[3].value}, *constant_value(w),
        op->num_inputs() > 2 && op->input(2), threads_, options_.winograd);
    if (!packed || (packed->format == 0 && packed->winograd_threads == 0)) return;
    Variable* weights = graph_.create_variable(w->name + "/packed", std::move(packed->packed));
    weights->dtype = DataType::Float;
    weights->shape = std::vector<Dim>{Dim{weights->value.dim(0), {}}};
    op->set_attr(Attribute::make_ints("weights_shape", constant_value(w)->shape()));
    if (packed->format != 0) op->set_attr(Attribute::make_int("weights_format", packed->format));
    if (packed->winograd_threads > 0) {
      op->set_attr(Attribute::make_int("winograd_threads", packed->winograd_threads));
      ++summary_.winograd_convs;
    }
    graph_.set_input(op, 1, weights);
    ++summary_.packed_convs;
  }

  // The op that alone reads the Conv's output, when nothing else can see that output (graph
  // outputs, If/Loop/Scan bodies): it may then run inside the Conv.
  Operation* sole_reader(const Operation* conv) const {
    const Variable* out = conv->output(0);
    if (out->consumers().size() != 1 || graph_.is_graph_output(out) ||
        read_by_subgraphs_.count(out->name))
      return nullptr;
    return out->consumers()[0];
  }

  // The Conv now writes `reader`'s output; `reader` is removed with the other fused ops.
  void absorb(Operation* conv, Operation* reader) {
    Variable* result = reader->output(0);
    graph_.set_output(reader, 0, nullptr);
    graph_.set_output(conv, 0, result);
    fused_.insert(reader);
  }

  // An Add of the Conv's output and a same-shaped value computed earlier in the chain (ResNet's
  // shortcut): the Conv adds that value, its fourth input, to its output.
  void fuse_residual_add(Operation* conv) {
    Operation* add = sole_reader(conv);
    if (!add || add->type != "Add" || !kept_.count(add) || add->num_inputs() != 2 ||
        add->input(0) == add->input(1))
      return;
    const Variable* out = conv->output(0);
    Variable* other = add->input(0) == out ? add->input(1) : add->input(0);
    // The other value is a twin already made by a chain op that came first: no cycle forms.
    auto twin = twin_.find(other);
    const Operation* producer = twin == twin_.end() ? nullptr : twin->second->producer();
    if (twin == twin_.end() || !producer || !position_.count(producer) ||
        position_.at(producer) >= position_.at(conv) || !other->shape || !out->shape ||
        *other->shape != *out->shape)
      return;
    if (conv->num_inputs() < 3) graph_.add_input(conv, nullptr);  // no bias
    graph_.add_input(conv, twin->second);
    absorb(conv, add);
    ++summary_.fused_adds;
  }

  // A Relu or Clip with known bounds as the Conv's only reader: it runs inside the Conv.
  void fuse_activation(Operation* conv) {
    Operation* act = sole_reader(conv);
    if (!act || !is_standard(*act) || act->input(0) != conv->output(0) || act->num_outputs() != 1)
      return;
    if (act->type == "Relu") {
      conv->set_attr(Attribute::make_string("activation", "Relu"));
    } else if (act->type == "Clip") {
      float lo = std::numeric_limits<float>::lowest(), hi = std::numeric_limits<float>::max();
      if (act->opset < 11) {
        lo = act->attr_float("min", lo);
        hi = act->attr_float("max", hi);
      } else {
        for (size_t i = 1; i < 3; ++i) {
          if (!act->input(i)) continue;
          const std::optional<float> bound = constant_scalar(act->input(i));
          if (!bound) return;
          (i == 1 ? lo : hi) = *bound;
        }
      }
      if (!(lo <= hi)) return;  // ONNX then gives max everywhere; oneDNN's clip refuses it
      conv->set_attr(Attribute::make_string("activation", "Clip"));
      conv->set_attr(Attribute::make_float("clip_min", lo));
      conv->set_attr(Attribute::make_float("clip_max", hi));
    } else {
      return;
    }
    absorb(conv, act);
    ++summary_.fused_activations;
  }

  // Ops left without readers: Constants whose weights were packed (PaddleOCR's; their plain
  // copy goes), a model's own Transpose to NCHW or zero fill that the chain reads around.
  void remove_unread_ops() {
    std::vector<Operation*> unread;
    for (const auto& op : graph_.operations()) {
      if (!is_standard(*op) || op->num_outputs() != 1 ||
          !(op->type == "Constant" || op->type == "Transpose" || op->type == "ConstantOfShape"))
        continue;
      const Variable* out = op->output(0);
      if (out && out->consumers().empty() && !graph_.is_graph_output(out) &&
          !read_by_subgraphs_.count(out->name))
        unread.push_back(op.get());
    }
    for (Operation* op : unread) graph_.remove_operation(op);
  }

  // A Transpose back to channels-last ([N, C, H, W] -> [N, H, W, C]) whose output is no graph
  // output: its readers can read the twin instead.
  bool folds_into_twin(const Operation* c) const {
    return is_transpose(c, kToChannelsLast) && c->output(0) &&
           !graph_.is_graph_output(c->output(0)) && !read_by_subgraphs_.count(c->output(0)->name);
  }

  // Variables computed in a chain and still read outside it (or graph outputs) are computed
  // back from their twin, unless their readers transpose them back to channels-last anyway.
  void add_exit_transposes() {
    for (Variable* v : produced_) {
      std::vector<Operation*> folded;
      for (Operation* c : v->consumers())
        if (folds_into_twin(c) && std::find(folded.begin(), folded.end(), c) == folded.end())
          folded.push_back(c);
      for (Operation* c : folded) {
        graph_.replace_all_uses(c->output(0), twin_.at(v));
        graph_.remove_operation(c);
      }
      if (v->consumers().empty() && !graph_.is_graph_output(v) &&
          !read_by_subgraphs_.count(v->name))
        continue;
      graph_.create_operation(
          "Transpose", graph_.unique_operation_name(v->name + "/to_channels_first"), {twin_.at(v)},
          {v},
          {Attribute::make_ints("perm",
                                {std::begin(kToChannelsFirst), std::end(kToChannelsFirst)})});
      ++summary_.transposes;
    }
  }

  Graph& graph_;
  const ChannelsLastOptions& options_;
  int threads_;
  ChannelsLastSummary summary_;
  std::vector<Operation*> members_;                         // ops that may join, in order
  std::unordered_map<const Operation*, int64_t> position_;  // in members_
  std::unordered_set<const Operation*> kept_;               // of them, in chains that pay
  std::unordered_set<const Variable*> in_chain_;            // values those ops compute
  std::unordered_map<const Variable*, Variable*> twin_;
  std::vector<Variable*> produced_;  // originals of the twins the chains compute, in order
  std::unordered_set<Operation*> fused_;
  std::unordered_set<std::string> read_by_subgraphs_;  // names If/Loop/Scan bodies read
};

}  // namespace

ChannelsLastSummary convert_to_channels_last(Graph& graph, const ChannelsLastOptions& options) {
  int threads = options.threads;
  if (threads <= 0) threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  ChannelsLastSummary summary = ChannelsLastRewrite(graph, options, threads).run();
  if (options.conv_chains) fuse_conv_chains(graph, options, threads, summary);
  return summary;
}

}  // namespace qforge
