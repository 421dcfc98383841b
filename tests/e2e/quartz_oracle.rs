//! Carillon's cron evaluator against the real Quartz 2.3.2: thousands of
//! generated expressions (every field form, names, `L`, `W`, `#`, steps over
//! ranges, lists mixing them, years, wrong values and typos) go to both, and
//! both must accept and refuse the same ones and give the same next fire
//! times. The reference is `tests/quartz/CronOracle.java` over Debian's
//! `libquartz2-java`, compiled here with `javac`; `scripts/test.sh` installs
//! both.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use carillon::schedule::CronExpr;
use chrono::{DateTime, Utc};

/// Fire times compared per expression.
const TIMES: usize = 5;
/// Expressions generated; the generator is seeded, so every run is the same.
const EXPRESSIONS: usize = 6_000;
const QUARTZ_JARS: [&str; 2] = [
    "/usr/share/java/quartz2.jar",
    "/usr/share/java/slf4j-api.jar",
];

#[test]
fn carillon_and_quartz_agree_on_generated_expressions() {
    let mut rng = Rng(0x5eed_c0ff_ee15_ca11);
    let mut cases = Vec::with_capacity(EXPRESSIONS + HAND_PICKED.len());
    for text in HAND_PICKED {
        cases.push((start_time(&mut rng), (*text).to_owned()));
    }
    for _ in 0..EXPRESSIONS {
        cases.push((start_time(&mut rng), expression(&mut rng)));
    }
    let answers = quartz(&cases, TIMES);
    assert_eq!(answers.len(), cases.len(), "the oracle answered every line");

    let mut differences = Vec::new();
    let (mut accepted, mut fired) = (0, 0);
    for ((start, text), answer) in cases.iter().zip(&answers) {
        let ours = carillon(*start, text, TIMES);
        let agree = match (answer, &ours) {
            (Answer::Reject, Err(_)) => true,
            (Answer::Times(theirs), Ok(ours)) => theirs == ours,
            // Quartz accepts it but throws or loops for ever evaluating it:
            // Carillon must refuse it or say it never fires, never invent
            // fire times.
            (Answer::Throws | Answer::Hangs, Err(_)) => true,
            (Answer::Throws | Answer::Hangs, Ok(ours)) => ours.is_empty(),
            _ => false,
        };
        if let Answer::Times(times) = answer {
            accepted += 1;
            fired += usize::from(!times.is_empty());
        }
        if !agree {
            differences.push(format!(
                "`{text}` from {}: Quartz {}, Carillon {}",
                show_ms(*start),
                answer.show(),
                match &ours {
                    Ok(times) => show_times(times),
                    Err(e) => format!("refused ({e})"),
                }
            ));
        }
    }
    // The generator must exercise both sides, or agreement means little.
    assert!(
        accepted > cases.len() / 3,
        "{accepted} of {} accepted",
        cases.len()
    );
    assert!(fired > cases.len() / 4, "{fired} of {} fired", cases.len());
    assert!(
        differences.is_empty(),
        "{} of {} expressions differ from Quartz 2.3.2:\n{}",
        differences.len(),
        cases.len(),
        differences
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Expressions written by hand: Quartz's documented examples and its corners.
const HAND_PICKED: &[&str] = &[
    "0 0 12 * * ?",
    "0 15 10 ? * *",
    "0 15 10 * * ? 2027",
    "0 * 14 * * ?",
    "0 0/5 14,18 * * ?",
    "0 0-5 14 * * ?",
    "0 10,44 14 ? 3 WED",
    "0 15 10 ? * MON-FRI",
    "0 15 10 15 * ?",
    "0 15 10 L * ?",
    "0 15 10 L-2 * ?",
    "0 15 10 ? * 6L",
    "0 15 10 ? * 6L 2026-2028",
    "0 15 10 ? * 6#3",
    "0 0 12 1/5 * ?",
    "0 11 11 11 11 ?",
    "0 0 0 LW * ?",
    "0 0 0 15W * ?",
    "0 0 0 1W * ?",
    "0 0 0 31W * ?",
    "0 0 0 ? * 2#5",
    "0 0 0 ? * L",
    "0 0 0 29 2 ? *",
    "0 0 0 30 2 ?",
    "0 0 0 31 4 ?",
    "0 0 0 ? * 5#5 2026-2040",
    "*/7 */13 */5 ? * *",
    "50-10 * * * * ?",
    "0 50-10/7 22-3 * * ?",
    "0 0 0 28-3 * ?",
    "0 0 0 1 NOV-FEB ?",
    "0 0 0 ? * FRI-MON",
    "0 0 0 1 1 ? 2099",
    "0 0 0 1 1 ? 2124",
    "0 0 0 1 1 ? 2024",
    "0 0 0 ? * * 2030/10",
    "0 0 0 1,15,L * ?",
    "0 0 0 L-0 * ?",
    "0 0 0 L-30 * ?",
    "0 0 0 L-31 * ?",
    "0 0 0 ? * 1#1,7#5",
    "0 0 0 ? * 2,3L",
    "0 0 0 ? * 8",
    "0 0 0 ? * 0",
    "0 0 0 ? * 6#6",
    "0 0 0 32 * ?",
    "0 0 0 0 * ?",
    "0 0 0 1 13 ?",
    "60 * * * * ?",
    "* 60 * * * ?",
    "* * 24 * * ?",
    "0 0 0 * * ? 1969",
    "0 0 0 ? * *",
    "0 0 0 * * *",
    "0 0 0 ? * ?",
    "0 0 0 1 * MON",
    "0 0 0 ? JANUARY MON",
    "0 0 0 ? * MON-fri",
    "0 0 0 ? jan,mar sun",
    "0 0 0 ? * W",
    "0 0 0 W * ?",
    "0 0 0 LW-2 * ?",
    "0 0 0 L-3W * ?",
    "0 0 0 5,L * ?",
    "0 0 0 5W,10 * ?",
    "0 0 0 ? * 3#2,4",
    "0 0 0 ? * L#2",
    "0 0 0 ? * 1-3#2",
    "0 0 0 ? * #2",
    "0 0 0 /5 * ?",
    "0 0 0 1/ * ?",
    "0 0 0 1/0 * ?",
    "0 0/0 0 * * ?",
    "0 0/60 0 * * ?",
    "0 0/61 0 * * ?",
    "0 0 0/24 * * ?",
    "0 0 0 1/31 * ?",
    "0 0 0 1/32 * ?",
    "0 0 0 1 1/12 ?",
    "0 0 0 1 1/13 ?",
    "0 0 0 1,,3 * ?",
    "0 0 0 1 1 ? 2030 extra tokens",
    "0 0 0 1 1",
    "0 0 0",
    "",
    "   ",
    "0 0 0 1 * ? *  ",
    "  0 0 0 1 * ?",
    "0\t0\t0\t1\t*\t?",
    "0 0 0 1-5/2,20-25 * ?",
    "0 0 0 ? * MON#2",
    "0 0 0 ? * SUNL",
    "0 0 0 ? * 7L,1#1",
    "0 0 0 1 JAN-DEC/3 ?",
    "0 0 0 ? * SUN-SAT/2",
    "0 0 0 1-31/10 FEB ?",
    "0-59/20 * * * * ? *",
    "0 0 0 1 ? *",
    "0 0 0 ? ? *",
    "0 0 0 L ? *",
    "x 0 0 * * ?",
    "0 0 0 1-x * ?",
    "0 0 0 * * ? 20x6",
    "0 0 0 * * ? 2026-",
    "0 0 0 * * ? -2026",
];

/// What Quartz said about one expression.
enum Answer {
    Reject,
    Throws,
    Hangs,
    Times(Vec<i64>),
}

impl Answer {
    fn show(&self) -> String {
        match self {
            Self::Reject => "refused".to_owned(),
            Self::Throws => "accepted but threw evaluating it".to_owned(),
            Self::Hangs => "accepted but looped evaluating it".to_owned(),
            Self::Times(times) => show_times(times),
        }
    }
}

fn show_times(times: &[i64]) -> String {
    if times.is_empty() {
        return "never fires".to_owned();
    }
    times
        .iter()
        .map(|ms| show_ms(*ms))
        .collect::<Vec<_>>()
        .join(", ")
}

fn show_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
    )
}

/// Carillon's next `count` fire times in UTC, as ms since the epoch.
fn carillon(start_ms: i64, text: &str, count: usize) -> Result<Vec<i64>, String> {
    let cron = CronExpr::parse(text).map_err(|e| e.to_string())?;
    let mut after = DateTime::<Utc>::from_timestamp_millis(start_ms).expect("start in range");
    let mut times = Vec::new();
    while times.len() < count {
        let Some(next) = cron.next_after(after, chrono_tz::UTC) else {
            break;
        };
        times.push(next.timestamp_millis());
        after = next;
    }
    Ok(times)
}

/// Quartz's answers, one per case, from one run of the oracle.
fn quartz(cases: &[(i64, String)], count: usize) -> Vec<Answer> {
    for jar in QUARTZ_JARS {
        assert!(
            Path::new(jar).is_file(),
            "{jar} is missing: install Quartz with `apt-get install libquartz2-java` \
             (scripts/test.sh does)"
        );
    }
    let classes = tempfile::tempdir().expect("temp dir");
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/quartz/CronOracle.java");
    let javac = Command::new("javac")
        .args(["-nowarn", "-cp", QUARTZ_JARS[0], "-d"])
        .arg(classes.path())
        .arg(&source)
        .output()
        .expect("cannot run javac: install a JDK (scripts/test.sh does)");
    assert!(
        javac.status.success(),
        "javac failed on {}:\n{}",
        source.display(),
        String::from_utf8_lossy(&javac.stderr)
    );

    let mut input = String::new();
    for (start, text) in cases {
        assert!(!text.contains('\n'), "one line per case");
        writeln!(input, "{start}\t{text}").expect("write to a string");
    }
    // To rerun the oracle by hand on exactly these lines:
    // `QUARTZ_ORACLE_DUMP=/tmp/oracle.in cargo nextest run -p carillon quartz`.
    if let Some(path) = std::env::var_os("QUARTZ_ORACLE_DUMP") {
        std::fs::write(path, &input).expect("dump the oracle's input");
    }
    let class_path = format!(
        "{}:{}:{}",
        QUARTZ_JARS[0],
        QUARTZ_JARS[1],
        classes.path().display()
    );
    let mut java = Command::new("java")
        .args(["-Duser.timezone=UTC", "-cp", &class_path, "CronOracle"])
        .arg(count.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run java: install a JRE (scripts/test.sh does)");
    let mut stdin = java.stdin.take().expect("piped stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = java.wait_with_output().expect("the oracle ran");
    writer
        .join()
        .expect("writer thread")
        .expect("oracle read its input");
    assert!(
        output.status.success(),
        "the Quartz oracle failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("the oracle writes UTF-8")
        .lines()
        .map(|line| match line {
            "REJECT" => Answer::Reject,
            "THROWS" => Answer::Throws,
            "HANGS" => Answer::Hangs,
            times => Answer::Times(
                times
                    .split_whitespace()
                    .map(|ms| ms.parse().expect("the oracle writes ms"))
                    .collect(),
            ),
        })
        .collect()
}

/// A start time in 2025..2028, on a whole second half the time. (Quartz
/// searches up to the year it runs in plus 100, Carillon up to the year
/// searched from plus 100; the generator's years stay below both bounds.)
fn start_time(rng: &mut Rng) -> i64 {
    const FROM: i64 = 1_735_689_600_000; // 2025-01-01T00:00:00Z
    const SPAN: i64 = 3 * 365 * 24 * 3600 * 1000;
    let ms = FROM + rng.below(SPAN as u64) as i64;
    if rng.chance(2) { ms - ms % 1000 } else { ms }
}

/// A random expression: mostly well formed, sometimes wrong in one place.
fn expression(rng: &mut Rng) -> String {
    let seconds = time_field(rng, 0, 59);
    let minutes = time_field(rng, 0, 59);
    let hours = time_field(rng, 0, 23);
    let month = month_field(rng);
    let (day_of_month, day_of_week) = match rng.below(20) {
        0 => (day_of_month_field(rng), day_of_week_field(rng)),
        1 => ("?".to_owned(), "?".to_owned()),
        n if n < 11 => (day_of_month_field(rng), "?".to_owned()),
        _ => ("?".to_owned(), day_of_week_field(rng)),
    };
    let mut text = format!("{seconds} {minutes} {hours} {day_of_month} {month} {day_of_week}");
    if rng.chance(3) {
        text.push(' ');
        text.push_str(&year_field(rng));
    }
    if rng.chance(25) {
        text = mangle(rng, &text);
    }
    if rng.chance(8) {
        text = text.to_lowercase();
    }
    text
}

/// Seconds, minutes or hours.
fn time_field(rng: &mut Rng, low: u64, high: u64) -> String {
    match rng.below(10) {
        0..=2 => "*".to_owned(),
        3 | 4 => number(rng, low, high),
        5 => format!("*/{}", step(rng, high)),
        6 => format!("{}/{}", number(rng, low, high), step(rng, high)),
        7 => range(rng, low, high, true),
        _ => list(rng, |rng| {
            if rng.chance(3) {
                range(rng, low, high, true)
            } else {
                number(rng, low, high)
            }
        }),
    }
}

fn day_of_month_field(rng: &mut Rng) -> String {
    let one = |rng: &mut Rng| match rng.below(12) {
        0 => "L".to_owned(),
        1 => format!("L-{}", rng.below(33)),
        2 => "LW".to_owned(),
        3 => format!("{}W", number(rng, 1, 31)),
        4 => range(rng, 1, 31, true),
        _ => number(rng, 1, 31),
    };
    match rng.below(10) {
        0 | 1 => "*".to_owned(),
        2 => format!("{}/{}", number(rng, 1, 31), step(rng, 31)),
        3 | 4 => list(rng, one),
        _ => one(rng),
    }
}

fn month_field(rng: &mut Rng) -> String {
    let name = |rng: &mut Rng| MONTHS[rng.below(12) as usize].to_owned();
    let one = |rng: &mut Rng| match rng.below(6) {
        0 => format!("{}-{}", name(rng), name(rng)),
        1 => range(rng, 1, 12, false),
        2 => name(rng),
        _ => number(rng, 1, 12),
    };
    match rng.below(10) {
        0..=3 => "*".to_owned(),
        4 => format!("{}/{}", number(rng, 1, 12), step(rng, 12)),
        5 => format!("{}/{}", name(rng), step(rng, 12)),
        6 | 7 => list(rng, one),
        _ => one(rng),
    }
}

fn day_of_week_field(rng: &mut Rng) -> String {
    let name = |rng: &mut Rng| WEEKDAYS[rng.below(7) as usize].to_owned();
    let day = |rng: &mut Rng| {
        if rng.chance(2) {
            name(rng)
        } else {
            number(rng, 1, 7)
        }
    };
    let one = |rng: &mut Rng| match rng.below(10) {
        0 => "L".to_owned(),
        1 => format!("{}L", number(rng, 1, 7)),
        2 => format!("{}#{}", day(rng), rng.below(7)),
        3 => format!("{}-{}", day(rng), day(rng)),
        _ => day(rng),
    };
    match rng.below(10) {
        0 | 1 => "*".to_owned(),
        2 => format!("{}/{}", day(rng), step(rng, 7)),
        3 | 4 => list(rng, one),
        _ => one(rng),
    }
}

fn year_field(rng: &mut Rng) -> String {
    let year = |rng: &mut Rng| (2020 + rng.below(90)).to_string();
    match rng.below(8) {
        0 | 1 => "*".to_owned(),
        2 => format!("{}-{}", year(rng), year(rng)),
        3 => format!("{}/{}", year(rng), 1 + rng.below(12)),
        4 => list(rng, year),
        _ => year(rng),
    }
}

/// A number in `low..=high`, now and then just outside it.
fn number(rng: &mut Rng, low: u64, high: u64) -> String {
    if rng.chance(40) {
        return if rng.chance(2) && low > 0 {
            (low - 1).to_string()
        } else {
            (high + 1).to_string()
        };
    }
    (low + rng.below(high - low + 1)).to_string()
}

/// An increment, now and then 0 or too large.
fn step(rng: &mut Rng, high: u64) -> String {
    if rng.chance(40) {
        return if rng.chance(2) { "0" } else { "99" }.to_owned();
    }
    (1 + rng.below(high)).to_string()
}

/// `a-b`, possibly wrapping (`50-10`), possibly with a step.
fn range(rng: &mut Rng, low: u64, high: u64, stepped: bool) -> String {
    let mut text = format!("{}-{}", number(rng, low, high), number(rng, low, high));
    if stepped && rng.chance(3) {
        write!(text, "/{}", step(rng, high)).expect("write to a string");
    }
    text
}

fn list(rng: &mut Rng, mut item: impl FnMut(&mut Rng) -> String) -> String {
    let n = 2 + rng.below(3);
    (0..n).map(|_| item(rng)).collect::<Vec<_>>().join(",")
}

/// The expression with one character dropped, doubled or replaced.
fn mangle(rng: &mut Rng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let at = rng.below(chars.len() as u64) as usize;
    const NOISE: [char; 12] = ['-', '/', ',', '#', 'L', 'W', '?', '*', ' ', 'X', '9', '0'];
    match rng.below(3) {
        0 => {
            chars.remove(at);
        }
        1 => chars.insert(at, chars[at]),
        _ => chars[at] = NOISE[rng.below(NOISE.len() as u64) as usize],
    }
    chars.into_iter().collect()
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// splitmix64: small, seeded, the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// True one time in `n`.
    fn chance(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}
