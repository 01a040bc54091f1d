use steerscope::analysis::curve::*;
struct Lcg(u64);
impl Lcg { fn next(&mut self) -> f32 { self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0 } }
#[test]
fn probe() {
    let dec = Decay { center: 0.0, width: 2.0, power: 1.0 };
    let truth = CurveFit { kind: CurveKind::Preference, alpha: 1.0, beta: 0.0, offset: 0.5, pos: dec, neg: dec, train_r2: 0.0, n_points: 0 };
    for seed in [7u64, 1, 2, 3, 4, 5] {
        let ms: Vec<f32> = (0..=80).map(|i| -10.0 + i as f32 * 0.25).collect();
        let mut rng = Lcg(seed);
        let ys: Vec<f32> = ms.iter().map(|&m| truth.predict(m) + 0.3 * rng.next()).collect();
        let fit = fit_preference(&ms, &ys).unwrap();
        let held: Vec<f32> = (0..=66).map(|i| -9.9 + i as f32 * 0.3).collect();
        let hy: Vec<f32> = held.iter().map(|&m| truth.predict(m)).collect();
        eprintln!("seed {seed}: fit train {} truth train {} heldout {}", fit.train_r2, truth.r2(&ms, &ys).unwrap(), fit.r2(&held, &hy).unwrap());
    }
}
