//! Whether the tests that need MariaDB are built to run: `cfg(mariadb)` when
//! `AMOCRM_TEST_MYSQL_URL` names a server. Without it they are listed as ignored, each
//! saying what it needs.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(mariadb)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=AMOCRM_TEST_MYSQL_URL");
    if std::env::var("AMOCRM_TEST_MYSQL_URL").is_ok_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=mariadb");
    }
}
