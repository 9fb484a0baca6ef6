//! The kernel's gradient against finite differences and against candle's autograd.

use crate::common;

use dpstudy::data::{Samples, synthetic};
use dpstudy::model::kernel::{self, KernelKind, Workspace, fused, gemm};
use dpstudy::model::row_split::ThreadedKernel;
use dpstudy::model::{Params, init, reference};
use dpstudy::real::Real;

/// Mean cost and mean gradient by the kernel this process runs ([`KernelKind::detect`]:
/// the fused one on a CPU with AVX2 and FMA unless `DPSTUDY_KERNEL` says otherwise).
fn kernel_cost_grad<T: Real>(params: &Params<T>, x: &Samples<T>) -> (f64, Params<T>) {
    kind_cost_grad(params, x, KernelKind::detect())
}

/// Mean cost and mean gradient by the kernel `kind`.
fn kind_cost_grad<T: Real>(params: &Params<T>, x: &Samples<T>, kind: KernelKind) -> (f64, Params<T>) {
    let mut grad = Params::zeros(params.hidden());
    let mut ws = Workspace::for_kind(params.hidden(), kind);
    let stats = kernel::forward_backward(params, x.as_view(), Some(&mut grad), &mut ws);
    let n = T::from_f64(x.len() as f64);
    grad.as_mut_slice().iter_mut().for_each(|g| *g /= n);
    (stats.cost_sum / x.len() as f64, grad)
}

fn cost_only(params: &Params<f64>, x: &Samples<f64>, ws: &mut Workspace<f64>) -> f64 {
    kernel::forward_backward(params, x.as_view(), None, ws).cost_sum / x.len() as f64
}

fn norm(v: impl Iterator<Item = f64>) -> f64 {
    v.map(|x| x * x).sum::<f64>().sqrt()
}

/// `||a - b|| / max(||a||, ||b||)`.
fn relative_error<T: Real>(a: &Params<T>, b: &Params<T>) -> f64 {
    let (a, b) = (a.as_slice(), b.as_slice());
    let diff = norm(a.iter().zip(b).map(|(x, y)| x.to_f64() - y.to_f64()));
    diff / norm(a.iter().map(|x| x.to_f64())).max(norm(b.iter().map(|x| x.to_f64())))
}

/// Weights large enough that the sigmoids are not near-linear, so the test has teeth.
fn spread_weights(hidden: usize, seed: u64) -> Params<f64> {
    let mut p = init::draw(hidden, seed);
    p.as_mut_slice().iter_mut().for_each(|w| *w *= 8.0);
    p
}

#[test]
fn gradient_matches_central_finite_differences() {
    // 300 rows: at least one full block of either kernel and a partial one.
    let rows = 300;
    assert!(rows > gemm::BLOCK_ROWS && rows % gemm::BLOCK_ROWS != 0 && rows % fused::BLOCK_ROWS != 0);
    let x = synthetic::generate(rows, 5).rows::<f64>(0..rows).unwrap();
    let params = spread_weights(7, 11);
    let (_, grad) = kernel_cost_grad(&params, &x);
    let mut ws = Workspace::new(7);
    let eps = 1e-5;
    let mut numeric = Params::zeros(7);
    for i in 0..params.as_slice().len() {
        let mut p = params.clone();
        p.as_mut_slice()[i] += eps;
        let plus = cost_only(&p, &x, &mut ws);
        p.as_mut_slice()[i] -= 2.0 * eps;
        let minus = cost_only(&p, &x, &mut ws);
        numeric.as_mut_slice()[i] = (plus - minus) / (2.0 * eps);
    }
    let err = relative_error(&grad, &numeric);
    assert!(err < 1e-6, "relative error {err:e} against finite differences");
}

#[test]
fn cost_and_gradient_match_candle_autograd_f64() {
    let x = synthetic::generate(700, 8).rows::<f64>(0..700).unwrap();
    for hidden in [1, 25, 50] {
        let params = spread_weights(hidden, 2);
        let (cost, grad) = kernel_cost_grad(&params, &x);
        let (ref_cost, ref_grad) = reference::cost_and_gradient(&params, x.as_view()).unwrap();
        assert!(((cost - ref_cost) / ref_cost).abs() < 1e-12, "H={hidden}: cost {cost} vs autograd {ref_cost}");
        let err = relative_error(&grad, &ref_grad);
        assert!(err < 1e-10, "H={hidden}: gradient relative error {err:e} against autograd");
    }
}

#[test]
fn cost_and_gradient_match_candle_autograd_f32() {
    let x = synthetic::generate(700, 8).rows::<f32>(0..700).unwrap();
    let params = init::draw(50, 3).cast::<f32>();
    let (cost, grad) = kernel_cost_grad(&params, &x);
    let (ref_cost, ref_grad) = reference::cost_and_gradient(&params, x.as_view()).unwrap();
    assert!(((cost - ref_cost) / ref_cost).abs() < 1e-5, "cost {cost} vs autograd {ref_cost}");
    let err = relative_error(&grad, &ref_grad);
    assert!(err < 1e-4, "gradient relative error {err:e} against autograd");
}

#[test]
fn threads_split_the_rows_but_not_the_result() {
    let x = synthetic::generate(1000, 4).rows::<f64>(0..1000).unwrap();
    let params = spread_weights(20, 9);
    let mut one = Params::zeros(20);
    let s1 = ThreadedKernel::new(20, 1, 1000).gradient(&params, x.as_view(), &mut one);
    for threads in [2, 3] {
        let mut kernel = ThreadedKernel::new(20, threads, 1000);
        let (mut a, mut b) = (Params::zeros(20), Params::zeros(20));
        let sa = kernel.gradient(&params, x.as_view(), &mut a);
        let sb = kernel.gradient(&params, x.as_view(), &mut b);
        assert_eq!(a, b, "T={threads}: same threads, same bits");
        assert_eq!(sa, sb);
        assert!(relative_error(&a, &one) < 1e-13, "T={threads} vs T=1");
        assert_eq!(sa.correct, s1.correct);
        assert!((sa.cost_sum - s1.cost_sum).abs() < 1e-9 * s1.cost_sum);
        let eval = kernel.evaluate(&params, x.as_view());
        assert_eq!((eval.correct, eval.samples), (s1.correct, 1000));
    }
}

/// The fused kernel (AVX2/FMA) against the portable `gemm` kernel: the same sums in another
/// order. 301 rows: for the fused kernel two full blocks of 128 and a partial one with
/// partial row tiles, for the `gemm` kernel one block of 256 and a partial one. The
/// hidden sizes take every path: units past the last whole vector in the dot tile (1 or 2
/// left: H = 1, 2, 9, 10, 18, 25, 50) or in a padded panel (H = 7), none left (H = 400).
#[test]
fn fused_kernel_equals_the_gemm_kernel() {
    let isas: Vec<fused::Isa> = [fused::Isa::Avx512, fused::Isa::Avx2].into_iter().filter(|i| i.supported()).collect();
    if isas.is_empty() {
        eprintln!("NOT RUN: this CPU has no AVX2/FMA, so the fused kernel never runs here");
        return;
    }
    if !fused::Isa::Avx512.supported() {
        eprintln!("NOT RUN for the AVX-512 fused kernel: this CPU has no AVX-512 F/VL");
    }
    fn check<T: Real>(x: &Samples<T>, hidden: usize, tolerance: f64, isa: fused::Isa) {
        let params = spread_weights(hidden, 5).cast::<T>();
        let (mut g_fused, mut g_gemm) = (Params::zeros(hidden), Params::zeros(hidden));
        let mut ws = fused::Workspace::new(hidden, isa);
        let s_fused = fused::forward_backward(&params, x.as_view(), Some(&mut g_fused), &mut ws);
        let s_gemm = gemm::forward_backward(&params, x.as_view(), Some(&mut g_gemm), &mut gemm::Workspace::new(hidden));
        let err = relative_error(&g_fused, &g_gemm);
        assert!(err < tolerance, "{isa:?} H={hidden}: gradients differ by {err:e}");
        let cost_err = ((s_fused.cost_sum - s_gemm.cost_sum) / s_gemm.cost_sum).abs();
        assert!(cost_err < tolerance, "{isa:?} H={hidden}: cost");
        assert_eq!(s_fused.samples, s_gemm.samples);
    }
    let data = synthetic::generate(301, 6);
    let (x64, x32) = (data.rows::<f64>(0..301).unwrap(), data.rows::<f32>(0..301).unwrap());
    // Both instruction sets' paths: units past the last whole vector of 16 f32 lanes (H = 17,
    // 18: dot tile; H = 19: padded panel) as well as of 8 (and of 4 and 8 f64 lanes).
    for isa in isas {
        for hidden in [1, 2, 7, 9, 10, 17, 18, 19, 25, 50, 400] {
            check(&x64, hidden, 1e-12, isa);
            check(&x32, hidden, 1e-5, isa);
        }
    }
}

#[test]
fn gradient_matches_autograd_on_real_mnist() {
    let Some(dir) = common::mnist_dir() else { return };
    let data = dpstudy::data::DataConfig {
        kind: dpstudy::data::DataKind::Mnist,
        dir,
        cache_dir: common::shared_cache(),
        verify: true,
        pool: Default::default(),
    }
    .load(None, 1)
    .unwrap();
    let kinds = KernelKind::runnable();
    for (kind, isa) in [(KernelKind::FusedAvx2, "AVX2/FMA"), (KernelKind::FusedAvx512, "AVX-512 F/VL")] {
        if !kinds.contains(&kind) {
            eprintln!("NOT RUN for the {} kernel: this CPU has no {isa}", kind.as_str());
        }
    }
    // A full batch of 600 rows (four blocks of the fused kernel or two of the `gemm` one,
    // and a partial one) and one mini-batch of the study's B = 256 from elsewhere in the set.
    for rows in [0..600, 600..856] {
        let x = data.rows::<f64>(rows.clone()).unwrap();
        let x32 = data.rows::<f32>(rows.clone()).unwrap();
        for hidden in [25, 50, 400] {
            let params = init::draw(hidden, 1);
            let params32 = params.cast::<f32>();
            let (ref_cost, ref_grad) = reference::cost_and_gradient(&params, x.as_view()).unwrap();
            let (_, ref_grad32) = reference::cost_and_gradient(&params32, x32.as_view()).unwrap();
            for &kind in &kinds {
                let case = format!("{kind:?} kernel, rows {rows:?}, H={hidden}");
                let (cost, grad) = kind_cost_grad(&params, &x, kind);
                assert!(((cost - ref_cost) / ref_cost).abs() < 1e-12, "{case}: cost {cost} vs {ref_cost}");
                let err = relative_error(&grad, &ref_grad);
                assert!(err < 1e-10, "{case}: relative error {err:e}");
                let (_, grad) = kind_cost_grad(&params32, &x32, kind);
                let err = relative_error(&grad, &ref_grad32);
                assert!(err < 1e-4, "{case} f32: relative error {err:e}");
            }
        }
    }
}
