#include "dataset_io.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <numeric>
#include <sstream>

#include <unistd.h>

#include "data.hpp"
#include "npz.hpp"

namespace xgrad::nn {

namespace {

std::string str(std::size_t n) { return std::to_string(n); }

std::string num(double v) {
    std::ostringstream o;
    o.precision(10);
    o << v;
    return o.str();
}

// "[2, 0, 3]": the index of flat element i of an array of `shape`.
std::string index_str(const shape_t& shape, std::size_t i) {
    std::vector<std::size_t> idx(shape.size());
    for (std::size_t k = shape.size(); k-- > 0;) {
        idx[k] = shape[k] ? i % shape[k] : 0;
        i = shape[k] ? i / shape[k] : 0;
    }
    std::string s = "[";
    for (std::size_t k = 0; k < idx.size(); ++k) s += (k ? ", " : "") + str(idx[k]);
    return s + "]";
}

std::string trim(const std::string& s) {
    const auto b = s.find_first_not_of(" \t\r"), e = s.find_last_not_of(" \t\r");
    return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

bool parse_number(const std::string& cell, double& out) {
    if (cell.empty()) return false;
    errno = 0;
    char* end = nullptr;
    out = std::strtod(cell.c_str(), &end);
    return end == cell.c_str() + cell.size() && errno != ERANGE;
}

std::vector<std::string> split_cells(const std::string& line) {
    std::vector<std::string> cells;
    std::size_t start = 0;
    for (;;) {
        const auto comma = line.find(',', start);
        cells.push_back(trim(line.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return cells;
}

struct csv_table {
    std::vector<std::vector<double>> rows;
    std::vector<std::size_t> lines;  // 1-based line number of each row
    std::size_t columns = 0;         // of the first data row
};

// Every data line as numbers: rows of the same width, finite, numeric.
csv_table read_table(const std::string& path, bool same_width) {
    std::ifstream in(path);
    if (!in) throw data_error("data file '" + path + "': cannot open it: " + std::strerror(errno));
    csv_table t;
    std::string line;
    std::size_t lineno = 0;
    bool first = true;
    while (std::getline(in, line)) {
        ++lineno;
        if (trim(line).empty()) continue;
        const auto cells = split_cells(line);
        std::vector<double> row(cells.size());
        bool any_number = false;
        for (std::size_t i = 0; i < cells.size(); ++i) any_number = parse_number(cells[i], row[i]) || any_number;
        if (first && !any_number) {  // a header
            first = false;
            continue;
        }
        first = false;
        const std::string at = "data file '" + path + "', line " + str(lineno);
        for (std::size_t i = 0; i < cells.size(); ++i) {
            if (!parse_number(cells[i], row[i]))
                throw data_error(at + ", cell " + str(i + 1) + ": '" + cells[i] +
                                 "' is not a number (cells are plain numbers separated by commas)");
            if (!std::isfinite(row[i]))
                throw data_error(at + ", cell " + str(i + 1) + ": '" + cells[i] +
                                 "' is not finite; missing values are not supported: fill or drop them first");
        }
        if (t.rows.empty()) {
            t.columns = row.size();
        } else if (same_width && row.size() != t.columns) {
            throw data_error(at + ": " + str(row.size()) + " cells, but line " + str(t.lines.front()) + " has " +
                             str(t.columns) + " (every line needs the same number of cells)");
        }
        t.rows.push_back(std::move(row));
        t.lines.push_back(lineno);
    }
    if (in.bad()) throw data_error("data file '" + path + "': read error");
    if (t.rows.empty()) throw data_error("data file '" + path + "': holds no data lines");
    return t;
}

void check_finite(const tensor& t, const std::string& path, const char* name) {
    for (std::size_t i = 0; i < t.size(); ++i)
        if (!std::isfinite(t.flat(i)))
            throw data_error("data file '" + path + "': array '" + name + "' holds " + num(t.flat(i)) + " at " +
                             index_str(t.shape(), i) + "; missing values are not supported: fill or drop them first");
}

}  // namespace

const char* task_name(task_kind t) { return t == task_kind::classify ? "classify" : "regress"; }

labelled_data read_csv_dataset(const std::string& path, const data_read_options& o) {
    labelled_data d;
    if (o.window > 0) {
        if (o.task == task_kind::classify)
            throw data_error("data file '" + path + "': --window cuts series into windows for regression (the target is "
                             "the next step); classification needs one sample per line (no --window)");
        const csv_table t = read_table(path, true);
        const std::size_t L = t.rows.size(), F = t.columns, W = o.window;
        const std::size_t extra = o.targets_optional ? 1 : 0;
        if (L + extra <= W)
            throw data_error("data file '" + path + "': " + str(L) + " time steps (lines) are too few for windows of " + str(W) +
                             " steps and a target; use a smaller --window");
        const std::size_t N = L - W + extra;
        d.x = tensor::zeros({N, W, F}, dtype::float64);
        if (!o.targets_optional) d.y = tensor::zeros({N, F}, dtype::float64);
        for (std::size_t i = 0; i < N; ++i) {
            for (std::size_t s = 0; s < W; ++s)
                for (std::size_t f = 0; f < F; ++f) d.x.set_flat((i * W + s) * F + f, t.rows[i + s][f]);
            if (d.y.defined())
                for (std::size_t f = 0; f < F; ++f) d.y.set_flat(i * F + f, t.rows[i + W][f]);
        }
    } else {
        const csv_table t = read_table(path, true);
        const std::size_t C = t.columns, F = o.features ? o.features : 1;
        bool has_y = true;
        if (o.targets_optional && o.row_inputs > 0) {
            if (C != o.row_inputs && C != o.row_inputs + 1)
                throw data_error("data file '" + path + "', line " + str(t.lines.front()) + ": " + str(C) + " cells, but the model reads " +
                                 str(o.row_inputs) + " inputs per line (" + str(o.row_inputs) + " cells, or " + str(o.row_inputs + 1) +
                                 " with the target last)");
            has_y = C == o.row_inputs + 1;
        }
        const std::size_t inputs = has_y ? C - 1 : C;
        if (inputs == 0 || inputs % F != 0)
            throw data_error("data file '" + path + "', line " + str(t.lines.front()) + ": " + str(C) + " cells: " + str(inputs) +
                             " inputs and a target do not fit " + str(F) +
                             " features per step (a line is T·F inputs, then the target; see --features)");
        const std::size_t N = t.rows.size(), T = inputs / F;
        d.x = tensor::zeros({N, T, F}, dtype::float64);
        if (has_y) d.y = tensor::zeros(o.task == task_kind::classify ? shape_t{N} : shape_t{N, 1}, dtype::float64);
        for (std::size_t i = 0; i < N; ++i) {
            for (std::size_t k = 0; k < inputs; ++k) d.x.set_flat(i * inputs + k, t.rows[i][k]);
            if (has_y) {
                const double v = t.rows[i][inputs];
                if (o.task == task_kind::classify && (v < 0 || v != std::floor(v)))
                    throw data_error("data file '" + path + "', line " + str(t.lines[i]) + ", cell " + str(C) + ": label " + num(v) +
                                     " is not a class index (an integer 0, 1, ...)");
                d.y.set_flat(i, v);
            }
        }
    }
    d.x = d.x.to(o.dt);
    if (d.y.defined()) d.y = d.y.to(o.dt);
    return d;
}

labelled_data read_npz_dataset(const std::string& path, const data_read_options& o) {
    std::vector<npz_array> arrays;
    try {
        arrays = read_npz(path);
    } catch (const checkpoint_error& e) {
        throw data_error(std::string("data file: ") + e.what());
    }
    const auto find = [&](const char* name) -> const npz_array* {
        for (const auto& a : arrays)
            if (a.name == name) return &a;
        return nullptr;
    };
    const std::string at = "data file '" + path + "'";
    const auto floats = [&](const npz_array& a) {
        if (!a.value.defined())
            throw data_error(at + ": array '" + a.name + "' is " + npy_dtype_name(a.descr) +
                             "; store float32 or float64 arrays (numpy: " + a.name + ".astype('float64'))");
        return a.value.to(dtype::float64);
    };
    const npz_array* X = find("X");
    if (!X) {
        std::string names;
        for (const auto& a : arrays) names += (names.empty() ? "" : ", ") + a.name;
        throw data_error(at + ": has no array 'X' (inputs [N, T, F]); it holds: " + (names.empty() ? "nothing" : names));
    }
    labelled_data d;
    d.x = floats(*X);
    if (d.x.dim() == 2) d.x.reshape({d.x.shape()[0], d.x.shape()[1], 1});
    if (d.x.dim() != 3 || d.x.shape()[0] == 0 || d.x.shape()[1] == 0 || d.x.shape()[2] == 0)
        throw data_error(at + ": array 'X' must be [N, T, F] (or [N, T]), non-empty, got " + shape_str(X->shape));
    check_finite(d.x, path, "X");
    const std::size_t N = d.x.shape()[0], T = d.x.shape()[1];
    if (const npz_array* Y = find("y")) {
        d.y = floats(*Y);
        const bool classify = o.task == task_kind::classify;
        if (classify && d.y.dim() == 2 && d.y.shape()[1] == 1) d.y.reshape({N});
        if (!classify && d.y.dim() == 1) d.y.reshape({d.y.shape()[0], 1});
        const bool rank_ok = classify ? d.y.dim() == 1 : d.y.dim() == 2;
        if (!rank_ok || d.y.shape()[0] != N || d.y.size() == 0)
            throw data_error(at + ": array 'y' must be " + (classify ? "[N] class indices" : "[N] or [N, K] targets") +
                             " with N = " + str(N) + " (X's), got " + shape_str(Y->shape));
        check_finite(d.y, path, "y");
        if (classify)
            for (std::size_t i = 0; i < N; ++i) {
                const double v = d.y.flat(i);
                if (v < 0 || v != std::floor(v))
                    throw data_error(at + ": array 'y' at [" + str(i) + "] holds " + num(v) + ", not a class index (an integer 0, 1, ...)");
            }
    } else if (!o.targets_optional) {
        throw data_error(at + ": has no array 'y' (targets [N, ...])");
    }
    if (const npz_array* L = find("lengths")) {
        const tensor len = floats(*L);
        if (len.dim() != 1 || len.shape()[0] != N)
            throw data_error(at + ": array 'lengths' must be [N] with N = " + str(N) + " (X's), got " + shape_str(L->shape));
        for (std::size_t i = 0; i < N; ++i) {
            const double v = len.flat(i);
            if (!(v >= 1) || v != std::floor(v) || v > double(T))
                throw data_error(at + ": array 'lengths' at [" + str(i) + "] holds " + num(v) +
                                 "; a length is a whole number of steps from 1 to T = " + str(T));
            d.lengths.push_back(static_cast<std::size_t>(v));
        }
    }
    d.x = d.x.to(o.dt);
    if (d.y.defined()) d.y = d.y.to(o.dt);
    return d;
}

labelled_data read_dataset(const std::string& path, const data_read_options& options) {
    const bool npz = path.size() >= 4 && path.compare(path.size() - 4, 4, ".npz") == 0;
    return npz ? read_npz_dataset(path, options) : read_csv_dataset(path, options);
}

std::size_t check_labels(const labelled_data& d, const std::string& where, std::size_t classes) {
    if (!d.y.defined()) return classes;
    std::size_t largest = 0;
    for (std::size_t i = 0; i < d.y.size(); ++i) {
        const double v = d.y.flat(i);
        if (v < 0 || v != std::floor(v))
            throw data_error(where + ": label " + num(v) + " of sample " + str(i) + " is not a class index (an integer 0, 1, ...)");
        if (!classes && v >= double(max_classes))
            throw data_error(where + ": label " + num(v) + " of sample " + str(i) + " is out of range: class indices go up to " +
                             str(max_classes - 1));
        if (classes && v >= double(classes))
            throw data_error(where + ": label " + num(v) + " of sample " + str(i) + " is out of range: the model has " + str(classes) +
                             " classes (0.." + str(classes - 1) + ")");
        const auto c = static_cast<std::size_t>(v);
        if (classes && c >= classes)
            throw data_error(where + ": label " + str(c) + " of sample " + str(i) + " is out of range: the model has " + str(classes) +
                             " classes (0.." + str(classes - 1) + ")");
        largest = std::max(largest, c);
    }
    if (!classes && largest == 0) throw data_error(where + ": every label is 0; classification needs at least two classes");
    return classes ? classes : largest + 1;
}

void check_lengths(const labelled_data& d, const std::string& where) {
    if (d.lengths.empty()) return;
    const std::size_t N = d.size(), T = d.x.shape()[1];
    if (d.lengths.size() != N)
        throw data_error(where + ": " + str(d.lengths.size()) + " lengths for " + str(N) + " samples (one per sample)");
    for (std::size_t i = 0; i < N; ++i)
        if (d.lengths[i] == 0 || d.lengths[i] > T)
            throw data_error(where + ": lengths[" + str(i) + "] = " + str(d.lengths[i]) + "; a length must be in [1, T = " +
                             str(T) + "]");
}

std::pair<labelled_data, labelled_data> split_tail(const labelled_data& d, double fraction, const std::string& what) {
    const std::size_t N = d.size();
    if (!(fraction > 0 && fraction < 1)) throw data_error(what + " must be a fraction in (0, 1), got " + num(fraction));
    const auto head_n = static_cast<std::size_t>(std::floor(double(N) * (1.0 - fraction)));
    if (head_n == 0 || head_n == N)
        throw data_error(what + " " + num(fraction) + " of " + str(N) + " samples leaves " + (head_n == 0 ? "nothing before" : "nothing in") +
                         " the split; use more data or another fraction");
    std::vector<std::size_t> a(head_n), b(N - head_n);
    std::iota(a.begin(), a.end(), 0);
    std::iota(b.begin(), b.end(), head_n);
    auto part = [&](const std::vector<std::size_t>& rows) {
        labelled_data p;
        p.x = take_rows(d.x, rows);
        if (d.y.defined()) p.y = take_rows(d.y, rows);
        for (auto r : rows)
            if (!d.lengths.empty()) p.lengths.push_back(d.lengths[r]);
        return p;
    };
    return {part(a), part(b)};
}

void write_npz_dataset(const std::string& path, const labelled_data& d) {
    named_tensors e{{"X", d.x}};
    if (d.y.defined()) e.emplace_back("y", d.y);
    if (!d.lengths.empty()) {
        tensor l = tensor::zeros({d.lengths.size()}, dtype::float64);
        for (std::size_t i = 0; i < d.lengths.size(); ++i) l.set_flat(i, double(d.lengths[i]));
        e.emplace_back("lengths", l);
    }
    save_npz(path, e);
}

void write_text_file(const std::string& path, const std::string& text, const std::string& what) {
    detail::write_file_atomically(path, what, text);
}

}  // namespace xgrad::nn
