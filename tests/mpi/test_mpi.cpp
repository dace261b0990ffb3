// Data-parallel training over MPI, run under `mpirun -np 2` (tests/mpi.cmake). Every rank runs every
// TEST_CASE in the same order, so their collectives line up. `--kill` / `--throw`: a rank that dies
// (SIGKILL) or throws mid-training, for the fault tests (the job must end, non-zero, without a hang).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <xgrad/nn/char_lm.hpp>
#include <xgrad/nn/checkpoint.hpp>
#include <xgrad/nn/clip.hpp>
#include <xgrad/nn/data.hpp>
#include <xgrad/nn/data_parallel.hpp>
#include <xgrad/nn/dist.hpp>
#include <xgrad/nn/fit.hpp>
#include <xgrad/nn/optim.hpp>
#include <xgrad/nn/optim_factory.hpp>
#include <xgrad/nn/text.hpp>
#include <xgrad/ops/ops.hpp>

using namespace xgrad;

namespace {

dist::communicator& comm() { return dist::world(); }

nn::sequence_regressor make_model(dtype d, std::uint64_t seed, std::size_t hidden = 8) {
    return nn::sequence_regressor({.cell = "lstm", .hidden = hidden, .seed = seed, .dt = d});
}

std::vector<std::size_t> rows(std::size_t b, std::size_t e) {
    std::vector<std::size_t> r;
    for (std::size_t i = b; i < e; ++i) r.push_back(i);
    return r;
}

// Loss on rows [b, e) of data, backward (gradients accumulate).
void backward_on(nn::sequence_regressor& m, const nn::dataset& data, std::size_t b, std::size_t e) {
    tape t;
    var loss = mse(m(input(nn::take_rows(data.x, rows(b, e)))), input(nn::take_rows(data.y, rows(b, e))));
    t.backward(loss);
}

bool bit_equal(const tensor& a, const tensor& b) {
    if (a.size() != b.size() || a.dtype() != b.dtype()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a.flat(i) != b.flat(i)) return false;
    return true;
}

double max_diff(const tensor& a, const tensor& b) {
    double m = 0;
    for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a.flat(i) - b.flat(i)));
    return m;
}

// (a + b) × 0.5 in the tensors' dtype.
tensor average(const tensor& a, const tensor& b) {
    tensor out = a;
    out.visit([&](auto& o) {
        using T = typename std::decay_t<decltype(o)>::value_type;
        const T* pb = b.data<T>();
        for (std::size_t i = 0; i < o.size(); ++i) o.data()[i] = (o.data()[i] + pb[i]) * T(0.5);
    });
    return out;
}

}  // namespace

TEST_CASE("two ranks: gradients and parameters bit-identical to averaging the two half-batches in one process") {
    REQUIRE(comm().size() == 2);
    const std::size_t B = 6;
    for (dtype d : {dtype::float32, dtype::float64}) {
        CAPTURE(dtype_name(d));
        const nn::dataset data = nn::sum_task(2 * B * 3, 5, 11, d);
        auto dp_model = make_model(d, 3);
        nn::data_parallel dp(dp_model, comm(), {.bucket_bytes = 512});
        CHECK(dp.buckets() > 1);
        auto dp_opt = nn::make_optimizer("adam", dp_model, 1e-2);
        // the reference: one process, both half-batches, averaged by hand
        auto ref = make_model(d, 3);
        auto ref_opt = nn::make_optimizer("adam", ref, 1e-2);
        auto dp_params = dp_model.parameters();
        auto ref_params = ref.parameters();
        for (std::size_t step = 0; step < 3; ++step) {
            const std::size_t base = step * 2 * B;
            const std::size_t r = std::size_t(comm().rank());
            dp_opt->zero_grad();
            backward_on(dp_model, data, base + r * B, base + (r + 1) * B);
            dp.finish();
            CHECK(dp.started_in_backward() == dp.buckets());  // every bucket started inside backward
            std::vector<tensor> halves[2];
            for (int h = 0; h < 2; ++h) {
                ref_opt->zero_grad();
                backward_on(ref, data, base + h * B, base + (h + 1) * B);
                for (auto& p : ref_params) halves[h].push_back(p.grad());
            }
            for (std::size_t i = 0; i < ref_params.size(); ++i) {
                ref_params[i].grad() = average(halves[0][i], halves[1][i]);
                CHECK_MESSAGE(bit_equal(dp_params[i].grad(), ref_params[i].grad()), dp_params[i].name());
            }
            nn::clip_grad_norm(dp_params, 0.5);
            nn::clip_grad_norm(ref_params, 0.5);
            dp_opt->step();
            ref_opt->step();
            for (std::size_t i = 0; i < ref_params.size(); ++i)
                CHECK_MESSAGE(bit_equal(dp_params[i].value(), ref_params[i].value()), dp_params[i].name());
        }
    }
}

TEST_CASE("two ranks, float64: within 1e-12 of one process with batch 2B") {
    const std::size_t B = 8;
    const nn::dataset data = nn::sum_task(2 * B, 5, 12, dtype::float64);
    auto m = make_model(dtype::float64, 4);
    nn::data_parallel dp(m, comm());
    auto ref = make_model(dtype::float64, 4);
    const std::size_t r = std::size_t(comm().rank());
    m.zero_grad();
    backward_on(m, data, r * B, (r + 1) * B);
    dp.finish();
    ref.zero_grad();
    backward_on(ref, data, 0, 2 * B);
    auto a = m.parameters(), b = ref.parameters();
    for (std::size_t i = 0; i < a.size(); ++i) CHECK(max_diff(a[i].grad(), b[i].grad()) < 1e-12);
}

TEST_CASE("ranks started from different seeds are identical after the broadcast") {
    auto m = make_model(dtype::float32, 100 + std::uint64_t(comm().rank()));
    const tensor before = m.parameters()[0].value();
    tensor root = before;
    comm().broadcast(root);
    CHECK(bit_equal(before, root) == (comm().rank() == 0));  // they differed
    nn::data_parallel dp(m, comm());
    for (auto& p : m.parameters()) {
        tensor r0 = p.value();
        comm().broadcast(r0);
        CHECK(bit_equal(r0, p.value()));
    }
}

TEST_CASE("no_sync accumulates locally, the next synchronised backward averages the sum") {
    const nn::dataset data = nn::sum_task(8, 4, 13, dtype::float64);
    auto m = make_model(dtype::float64, 5);
    nn::data_parallel dp(m, comm());
    const std::size_t r = std::size_t(comm().rank());
    m.zero_grad();
    {
        auto guard = dp.no_sync();
        backward_on(m, data, r * 2, r * 2 + 2);
        dp.finish();  // a no-op under no_sync
    }
    const tensor local = m.parameters()[0].grad();
    backward_on(m, data, 4 + r * 2, 4 + r * 2 + 2);
    dp.finish();
    // reference: both ranks' two micro-batches, summed per rank, averaged over ranks
    auto ref = make_model(dtype::float64, 5);
    ref.zero_grad();
    for (std::size_t k : {0, 1}) {
        backward_on(ref, data, k * 2, k * 2 + 2);
        backward_on(ref, data, 4 + k * 2, 4 + k * 2 + 2);
    }
    auto a = m.parameters(), b = ref.parameters();
    for (std::size_t i = 0; i < a.size(); ++i) CHECK(max_diff(a[i].grad(), average(b[i].grad(), tensor::zeros(b[i].shape(), dtype::float64))) < 1e-12);
    tensor other = local;
    comm().broadcast(other, 1);
    CHECK(!bit_equal(other, local) == (comm().rank() == 0));  // the accumulation was local
}

TEST_CASE("shards are disjoint, equal in length and cover the data, the same order on every rank") {
    const std::size_t n = 30;
    const tensor x = tensor::zeros({n, 1}, dtype::float64);
    nn::data_loader loader(x, tensor(), {.batch_size = 4, .seed = 7, .shard_rank = std::size_t(comm().rank()),
                                         .shard_count = std::size_t(comm().size())});
    CHECK(loader.shard_samples() == n / 2);
    for (int epoch = 0; epoch < 2; ++epoch) {
        tensor count = tensor::zeros({n}, dtype::float64);
        std::size_t len = 0;
        for (nn::batch b; loader.next(b);)
            for (std::size_t i : b.index) {
                count.set_flat(i, count.flat(i) + 1);
                ++len;
            }
        CHECK(len == n / 2);
        const double total = comm().all_reduce(double(len), dist::reduce::sum);
        CHECK(total == double(n));
        comm().all_reduce(count, dist::reduce::sum);
        for (std::size_t i = 0; i < n; ++i) CHECK(count.flat(i) == 1.0);
    }
}

TEST_CASE("save on rank 0, resume on two ranks equals the uninterrupted run") {
    const nn::dataset data = nn::sum_task(24, 4, 14, dtype::float64);
    const std::string path = "mpi_resume_test.npz";
    auto run = [&](nn::sequence_regressor& m, nn::optimizer& opt, nn::data_parallel& dp, std::size_t from, std::size_t to) {
        const std::size_t r = std::size_t(comm().rank());
        for (std::size_t s = from; s < to; ++s) {
            opt.zero_grad();
            backward_on(m, data, s * 4 + r * 2, s * 4 + r * 2 + 2);
            dp.finish();
            opt.step();
        }
    };
    auto full = make_model(dtype::float64, 6);
    nn::data_parallel dpf(full, comm());
    auto full_opt = nn::make_optimizer("adam", full, 1e-2);
    run(full, *full_opt, dpf, 0, 6);

    auto first = make_model(dtype::float64, 6);
    nn::data_parallel dp1(first, comm());
    auto opt1 = nn::make_optimizer("adam", first, 1e-2);
    run(first, *opt1, dp1, 0, 3);
    if (comm().is_root()) nn::save_checkpoint(path, first, opt1.get());
    comm().barrier();
    auto resumed = make_model(dtype::float64, 50 + std::uint64_t(comm().rank()));  // other seeds on purpose
    auto opt2 = nn::make_optimizer("adam", resumed, 1e-2);
    nn::load_checkpoint(path, resumed, opt2.get());  // every rank reads rank 0's file
    nn::data_parallel dp2(resumed, comm());
    run(resumed, *opt2, dp2, 3, 6);
    auto a = full.parameters(), b = resumed.parameters();
    for (std::size_t i = 0; i < a.size(); ++i) CHECK(bit_equal(a[i].value(), b[i].value()));
    comm().barrier();
    if (comm().is_root()) std::remove(path.c_str());
}

TEST_CASE("a model or options mismatch between ranks is detected at start and named") {
    {
        auto m = make_model(dtype::float32, 1, comm().rank() == 0 ? 8 : 9);
        CHECK_THROWS_WITH_AS(nn::data_parallel(m, comm()), doctest::Contains("different model"), nn::dist_mismatch_error);
        // every rank names the first parameter that differs, with both ranks' shapes
        CHECK_THROWS_WITH_AS(nn::data_parallel(m, comm()),
                             doctest::Contains("rank 1 has 'lstm.weight_ih_l0:36x1:float32:trainable' where rank 0 has "
                                               "'lstm.weight_ih_l0:32x1:float32:trainable'"),
                             nn::dist_mismatch_error);
    }
    {
        auto m = make_model(dtype::float32, 1);
        const std::string fp = "cell=lstm lr=" + std::to_string(comm().rank()) + " seed=1";
        CHECK_THROWS_WITH_AS(nn::data_parallel(m, comm(), {.fingerprint = fp}), doctest::Contains("different options"),
                             nn::dist_mismatch_error);
        CHECK_THROWS_WITH_AS(nn::data_parallel(m, comm(), {.fingerprint = fp}),
                             doctest::Contains("rank 1 has 'lr=1' where rank 0 has 'lr=0' (item 2)"), nn::dist_mismatch_error);
    }
}

TEST_CASE("char model on two ranks: bit-identical to one process training both stream groups and averaging") {
    std::string text;
    for (int i = 0; i < 30; ++i) text += "the cat sat on the mat; a dog ran. ";
    const nn::corpus data = nn::split_corpus(text);
    const nn::char_model_options mo{.cell = "lstm", .hidden = 12, .embed = 6, .seed = 9};
    const std::size_t B = 3, seq = 8, steps = 4;
    const double lr = 1e-2, clip = 0.5;
    nn::char_model dp_model({.cell = "lstm", .hidden = 12, .embed = 6, .seed = 9 + std::uint64_t(comm().rank())}, data.vocab);
    nn::data_parallel dp(dp_model, comm(), {.bucket_bytes = 256});
    std::vector<double> losses;
    nn::train_char_model(dp_model, data.train, data.held_out,
                         {.seq = seq, .batch = B, .steps = steps, .lr = lr, .clip = clip, .eval_every = steps, .parallel = &dp},
                         [&](const nn::char_train_progress& p) {
                             if (!p.evaluated) losses.push_back(p.train_loss);
                         });
    // The reference, in this process alone: 2B streams over the text (stream g from g·L); group h
    // (= rank h) holds streams hB .. hB + B − 1 with its own carried state; every step both groups'
    // gradients, averaged as (g0 + g1) × 0.5, then clipping and Adam.
    nn::char_model ref(mo, data.vocab);  // rank 0's initialisation (seed 9), which data_parallel broadcast
    nn::adam opt(ref, {.lr = lr});
    const std::size_t L = data.train.size() / (2 * B);
    nn::char_model_state state[2];
    auto params = ref.parameters();
    for (std::size_t step = 0; step < steps; ++step) {
        std::vector<tensor> g[2];
        double loss[2];
        for (std::size_t h = 0; h < 2; ++h) {
            tensor x = tensor::zeros({B, seq}), y = tensor::zeros({B * seq});
            for (std::size_t b = 0; b < B; ++b)
                for (std::size_t t = 0; t < seq; ++t) {
                    const std::size_t at = (h * B + b) * L + step * seq + t;
                    x.set_flat(b * seq + t, double(data.train[at]));
                    y.set_flat(b * seq + t, double(data.train[at + 1]));
                }
            tape tp;
            opt.zero_grad();
            var l = cross_entropy(ref(x, state[h]), input(y));
            tp.backward(l);
            loss[h] = l.item();
            for (auto& p : params) g[h].push_back(p.grad());
        }
        for (std::size_t i = 0; i < params.size(); ++i) params[i].grad() = average(g[0][i], g[1][i]);
        nn::clip_grad_norm(ref, clip);
        opt.step();
        CHECK(losses[step] == (loss[0] + loss[1]) * 0.5);  // the reported loss: the mean over ranks
    }
    auto a = dp_model.named_parameters(), b = ref.named_parameters();
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) CHECK_MESSAGE(bit_equal(a[i].second.value(), b[i].second.value()), a[i].first);
}

TEST_CASE("rank_seed: rank 0 keeps the seed, the other ranks get distinct ones") {
    CHECK(nn::rank_seed(42, 0) == 42);
    CHECK(nn::rank_seed(42, 1) != 42);
    CHECK(nn::rank_seed(42, 1) != nn::rank_seed(42, 2));
    CHECK(nn::rank_seed(42, 1) != nn::rank_seed(43, 1));
    CHECK(nn::rank_seed(0, 1) != nn::rank_seed(1, 0));  // not seed + rank
}

int main(int argc, char** argv) {
    dist::init(&argc, &argv);
    int rc = 0;
    const bool kill = argc > 1 && std::strcmp(argv[1], "--kill") == 0;
    const bool raise_error = argc > 1 && std::strcmp(argv[1], "--throw") == 0;
    if (kill || raise_error) {
        // Train "forever"; rank 1 dies (or throws) after a few steps. The job must end, non-zero.
        try {
            const nn::dataset data = nn::sum_task(16, 4, 1, dtype::float32);
            auto m = make_model(dtype::float32, 1);
            nn::data_parallel dp(m, comm());
            for (std::size_t s = 0;; ++s) {
                if (comm().rank() == 1 && s == 5) {
                    if (kill) std::raise(SIGKILL);
                    throw std::runtime_error("rank 1 fails on purpose");
                }
                m.zero_grad();
                backward_on(m, data, 0, 8);
                dp.finish();
            }
        } catch (const std::exception& e) {
            std::cerr << "rank " << comm().rank() << ": error: " << e.what() << "\n";
            dist::abort(3);
        }
    }
    doctest::Context ctx(argc, argv);
    rc = ctx.run();
    // Every rank must agree: a failure anywhere fails every rank.
    const double failed = comm().all_reduce(rc != 0 ? 1.0 : 0.0, dist::reduce::sum);
    dist::finalize();
    return failed > 0 ? 1 : 0;
}
