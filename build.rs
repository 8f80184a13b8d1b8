//! Which of the tests that need more than Rust are built to run: `cfg(mariadb)` when
//! `AMOCRM_TEST_MYSQL_URL` names a server, `cfg(packages)` when `AMOCRM_TEST_PACKAGES=1`.
//! Without them those tests are listed as ignored, each saying what it needs.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(mariadb)");
    println!("cargo::rustc-check-cfg=cfg(packages)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=AMOCRM_TEST_MYSQL_URL");
    println!("cargo::rerun-if-env-changed=AMOCRM_TEST_PACKAGES");
    if std::env::var("AMOCRM_TEST_MYSQL_URL").is_ok_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=mariadb");
    }
    if std::env::var("AMOCRM_TEST_PACKAGES").is_ok_and(|v| v == "1") {
        println!("cargo::rustc-cfg=packages");
    }
}
