// SPDX-License-Identifier: Apache-2.0
// Recognizes how a calibration folder is laid out (ONNX test_data_set_N folders, one subfolder
// per input, stacked <input>.npy files, <input>_<index> files, one file per sample, images) and
// opens it. Called by open_calibration_data; the layouts are listed in docs/calibration_data.md
// and tested in tests/data/test_calibration_data.cpp.
#include <algorithm>
#include <cctype>
#include <map>

#include "data/data_internal.h"

namespace qforge::data {

namespace {

struct FolderScan {
  std::vector<fs::path> subdirs;
  std::map<std::string, std::vector<fs::path>> files;  // ".npy", ".pb", ".npz", "image"
};

bool all_digits(const std::string& text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); });
}

bool hidden(const fs::path& path) {
  return path.filename().string().starts_with(".");
}

void sort_naturally(std::vector<fs::path>& paths) {
  std::sort(paths.begin(), paths.end(), [](const fs::path& a, const fs::path& b) {
    return natural_less(a.filename().string(), b.filename().string());
  });
}

// Data files directly in `folder` by kind; other files (labels, READMEs) are ignored.
FolderScan scan(const fs::path& folder) {
  FolderScan out;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(folder, ec)) {
    std::error_code entry_ec;  // a broken link is not a folder; it is skipped below
    if (hidden(entry.path())) continue;
    if (entry.is_directory(entry_ec)) {
      out.subdirs.push_back(entry.path());
      continue;
    }
    const std::string ext = lower_extension(entry.path());
    if (ext == ".npy" || ext == ".pb" || ext == ".npz") out.files[ext].push_back(entry.path());
    if (is_image_extension(ext)) out.files["image"].push_back(entry.path());
  }
  if (ec)
    fail(ErrorKind::IO, "{}: cannot list folder ({})", display_path(folder, true), ec.message());
  sort_naturally(out.subdirs);
  for (auto& [kind, paths] : out.files) sort_naturally(paths);
  return out;
}

void require_no_preprocess(const std::optional<PreprocessSpec>& preprocess,
                           const std::string& where, const std::string& kind) {
  if (preprocess)
    fail(ErrorKind::Argument,
         "{}: holds {} data; an image preprocessing spec applies to images only", where, kind);
}

// "<input>_<index>" -> (input, index) using the longest input name that fits; nullopt if none.
std::optional<std::pair<InputRef, uint64_t>> split_indexed_name(const std::string& stem,
                                                                const ModelInputs& inputs) {
  std::optional<std::pair<InputRef, uint64_t>> best;
  for (const InputRef& v : inputs) {
    const std::string& name = v->name;
    if (stem.size() < name.size() + 2 || !stem.starts_with(name) || stem[name.size()] != '_')
      continue;
    const std::string digits = stem.substr(name.size() + 1);
    if (digits.size() > 18 || !all_digits(digits)) continue;
    if (!best || best->first->name.size() < name.size()) best = {{v, std::stoull(digits)}};
  }
  return best;
}

// <input>_<index>.npy / .pb files: sample k gathers every input's file of index k.
std::vector<SampleFiles> indexed_samples(const std::vector<fs::path>& files,
                                         const ModelInputs& inputs, const std::string& folder) {
  std::map<uint64_t, std::map<InputRef, std::string>> by_index;
  for (const fs::path& file : files) {
    const auto split = split_indexed_name(file.stem().string(), inputs);
    if (!split)
      fail(
          ErrorKind::Argument,
          "{}: name is not <input>_<index>{} for any model input (inputs: {}; or use one subfolder "
          "per input)",
          file.string(), file.extension().string(), quoted_names(inputs));
    auto [slot, fresh] = by_index[split->second].emplace(split->first, file.string());
    if (!fresh)
      fail(ErrorKind::Argument, "{}: input '{}' sample {} is also given by {}", file.string(),
           split->first->name, split->second, slot->second);
  }
  std::vector<SampleFiles> samples;
  const std::string ext = files.front().extension().string();
  for (const auto& [index, per_input] : by_index) {
    SampleFiles sample;
    for (const InputRef& v : inputs) {
      auto it = per_input.find(v);
      if (it == per_input.end())
        fail(ErrorKind::Argument,
             "{}: sample {} has no file for model input '{}' (expected {}_{}{})", folder, index,
             v->name, v->name, index, ext);
      sample.push_back({v, 0, it->second});
    }
    samples.push_back(std::move(sample));
  }
  return samples;
}

std::unique_ptr<CalibrationDataset> open_test_data_sets(const std::vector<fs::path>& sets,
                                                        const ModelInputs& inputs,
                                                        const std::string& folder) {
  std::vector<SampleFiles> samples;
  for (const fs::path& set : sets) {
    SampleFiles sample;
    FolderScan inner = scan(set);  // named: a range-for over a temporary's member dangles
    for (const fs::path& file : inner.files[".pb"]) {
      const std::string stem = file.stem().string();
      if (!stem.starts_with("input_")) continue;  // output_K.pb: expected outputs, not ours
      const std::string digits = stem.substr(6);
      if (digits.size() > 9 || !all_digits(digits))
        fail(ErrorKind::Argument, "{}: expected input_<index>.pb", file.string());
      sample.push_back({nullptr, std::stoul(digits), file.string()});
    }
    if (sample.empty())
      fail(ErrorKind::Argument, "{}: no input_<index>.pb files in this test data set",
           display_path(set, true));
    samples.push_back(std::move(sample));
  }
  return make_file_dataset(std::move(samples), inputs, "folder " + folder, "test_data_set folders");
}

std::unique_ptr<CalibrationDataset> open_input_subfolders(const FolderScan& top,
                                                          const ModelInputs& inputs,
                                                          const std::string& folder) {
  std::map<InputRef, std::vector<fs::path>> files;
  for (const fs::path& dir : top.subdirs) {
    InputRef input = find_input(inputs, dir.filename().string());
    if (!input)
      fail(ErrorKind::Argument, "{}: folder does not name a model input (inputs: {})",
           display_path(dir, true), quoted_names(inputs));
    FolderScan inner = scan(dir);
    const size_t kinds = inner.files.size();
    if (kinds > 1 || (kinds == 1 && !inner.files.count(".npy") && !inner.files.count(".pb")))
      fail(ErrorKind::Argument, "{}: expected only .npy or only .pb files",
           display_path(dir, true));
    if (kinds == 0)
      fail(ErrorKind::Argument, "{}: no .npy or .pb files for input '{}'", display_path(dir, true),
           input->name);
    files[input] = inner.files.begin()->second;
  }
  for (const InputRef& v : inputs)
    if (!files.count(v))
      fail(ErrorKind::Argument, "{}: no subfolder for model input '{}' ({})", folder, v->name,
           describe_input(*v));
  const size_t count = files[inputs[0]].size();
  for (const InputRef& v : inputs)
    if (files[v].size() != count)
      fail(ErrorKind::Argument, "{}: subfolder '{}' holds {} files but '{}' holds {}", folder,
           inputs[0]->name, count, v->name, files[v].size());
  std::vector<SampleFiles> samples(count);
  for (size_t i = 0; i < count; ++i)
    for (const InputRef& v : inputs) samples[i].push_back({v, 0, files[v][i].string()});
  return make_file_dataset(std::move(samples), inputs, "folder " + folder,
                           "one subfolder per input");
}

std::unique_ptr<CalibrationDataset> open_stacked_files(const std::vector<fs::path>& files,
                                                       const ModelInputs& inputs,
                                                       const std::string& folder) {
  std::vector<StackedArray> arrays;
  for (const fs::path& file : files) {
    InputRef input = find_input(inputs, file.stem().string());
    if (!input)
      fail(ErrorKind::Argument,
           "{}: a stacked array must be named <input>.npy; '{}' is not a model input (inputs: {})",
           file.string(), file.stem().string(), quoted_names(inputs));
    arrays.push_back(
        {input, std::make_unique<StackedNpy>(open_file_source(file.string()), file.string())});
  }
  for (const InputRef& v : inputs)
    if (std::none_of(arrays.begin(), arrays.end(),
                     [&](const StackedArray& a) { return a.input == v; }))
      fail(ErrorKind::Argument, "{}: no {}.npy for model input '{}' ({})", folder, v->name, v->name,
           describe_input(*v));
  return make_stacked_dataset(std::move(arrays),
                              fmt::format("folder {} (one stacked .npy per input)", folder));
}

// One .npy or .pb file per sample (single input), stacked <input>.npy files, input_K.pb of one
// ONNX test case, or <input>_<index> files.
std::unique_ptr<CalibrationDataset> open_flat_files(const std::vector<fs::path>& files,
                                                    const std::string& ext,
                                                    const ModelInputs& inputs,
                                                    const std::string& folder) {
  const auto names_input = [&](const fs::path& f) {
    return find_input(inputs, f.stem().string()) != nullptr;
  };
  if (ext == ".npy" && std::any_of(files.begin(), files.end(), names_input) &&
      (inputs.size() > 1 || files.size() == 1))
    return open_stacked_files(files, inputs, folder);
  if (ext == ".pb" && inputs.size() > 1 && files.size() == inputs.size()) {
    SampleFiles sample;
    for (const fs::path& f : files) {  // naturally sorted: input_0, input_1, ...
      if (f.stem().string() != fmt::format("input_{}", sample.size())) break;
      sample.push_back({nullptr, sample.size(), f.string()});
    }
    if (sample.size() == inputs.size())
      return make_file_dataset({sample}, inputs, "folder " + folder, "one ONNX test case");
  }
  if (inputs.size() == 1) {
    std::vector<SampleFiles> samples;
    for (const fs::path& f : files) samples.push_back({{inputs[0], 0, f.string()}});
    return make_file_dataset(std::move(samples), inputs, "folder " + folder, "");
  }
  return make_file_dataset(indexed_samples(files, inputs, folder), inputs, "folder " + folder,
                           "<input>_<index> files");
}

std::vector<std::string> images_under(const fs::path& folder) {
  std::vector<fs::path> found;
  std::error_code ec;
  auto it =
      fs::recursive_directory_iterator(folder, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code entry_ec;  // a broken link is skipped, not a failure of the listing
    if (hidden(it->path())) {
      if (it->is_directory(entry_ec)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(entry_ec) && is_image_extension(lower_extension(it->path())))
      found.push_back(it->path());
  }
  if (ec)
    fail(ErrorKind::IO, "{}: cannot list folder ({})", display_path(folder, true), ec.message());
  // Relative paths in natural order: class folders first, then file names.
  std::vector<std::pair<std::string, std::string>> keyed;  // relative, full
  for (const fs::path& p : found)
    keyed.emplace_back(p.lexically_relative(folder).string(), p.string());
  std::sort(keyed.begin(), keyed.end(),
            [](const auto& a, const auto& b) { return natural_less(a.first, b.first); });
  std::vector<std::string> files;
  for (auto& [relative, full] : keyed) files.push_back(std::move(full));
  return files;
}

InputRef image_input(const ModelInputs& inputs, const PreprocessSpec& spec,
                     const std::string& folder) {
  InputRef input = nullptr;
  if (!spec.input_name.empty()) {
    input = find_input(inputs, spec.input_name);
    if (!input)
      fail(ErrorKind::Argument,
           "{}: preprocessing \"input\" '{}' is not a model input (inputs: {})", folder,
           spec.input_name, quoted_names(inputs));
  } else if (inputs.size() == 1) {
    input = inputs[0];
  } else {
    fail(ErrorKind::Argument,
         "{}: the model has inputs {}; say which one the images feed with the preprocessing key "
         "\"input\"",
         folder, quoted_names(inputs));
  }
  for (const InputRef& v : inputs)
    if (v != input)
      fail(ErrorKind::Argument,
           "{}: images feed input '{}' only; model input '{}' ({}) has no data", folder,
           input->name, v->name, describe_input(*v));
  return input;
}

}  // namespace

std::unique_ptr<CalibrationDataset> open_image_files(
    std::vector<std::string> files, const ModelInputs& inputs,
    const std::optional<PreprocessSpec>& preprocess, const std::string& where) {
  const PreprocessSpec spec = preprocess.value_or(PreprocessSpec{});
  return make_image_dataset(std::move(files), image_input(inputs, spec, where), spec, where);
}

std::unique_ptr<CalibrationDataset> open_folder(const fs::path& path, const Graph& graph,
                                                const std::optional<PreprocessSpec>& preprocess) {
  const std::string folder = display_path(path, true);
  const ModelInputs inputs = model_inputs(graph);
  if (inputs.empty()) fail(ErrorKind::Argument, "{}: the model has no inputs to feed", folder);
  FolderScan top = scan(path);

  std::vector<fs::path> sets;
  for (const fs::path& dir : top.subdirs)
    if (dir.filename().string().starts_with("test_data_set_")) sets.push_back(dir);
  if (!sets.empty()) {
    require_no_preprocess(preprocess, folder, "ONNX test data (.pb)");
    return open_test_data_sets(sets, inputs, folder);
  }
  if (std::any_of(top.subdirs.begin(), top.subdirs.end(),
                  [&](const fs::path& d) { return find_input(inputs, d.filename().string()); })) {
    require_no_preprocess(preprocess, folder, "per-input tensor");
    return open_input_subfolders(top, inputs, folder);
  }
  top.files.erase(".npz");  // an archive is opened by its own path
  if (top.files.size() > 1) {
    std::string kinds;
    for (const auto& [kind, paths] : top.files)
      kinds += fmt::format("{}{} {}", kinds.empty() ? "" : ", ", paths.size(), kind);
    fail(ErrorKind::Argument, "{}: mixes data kinds ({}); keep one kind per folder", folder, kinds);
  }
  if (top.files.count(".npy") || top.files.count(".pb")) {
    const auto& [ext, files] = *top.files.begin();
    require_no_preprocess(preprocess, folder, ext);
    return open_flat_files(files, ext, inputs, folder);
  }
  std::vector<std::string> images = images_under(path);
  if (!images.empty()) return open_image_files(std::move(images), inputs, preprocess, folder);
  fail(ErrorKind::Argument,
       "{}: no calibration data in this folder (expected .npy, .pb or image files, test_data_set_N "
       "folders, or one subfolder per input{})",
       folder, scan(path).files.count(".npz") ? "; pass a .npz archive by its own path" : "");
}

}  // namespace qforge::data
