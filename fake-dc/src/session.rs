//! The session blob `collector-job login` writes (version 1: the home datacenter and each
//! datacenter's address and auth key), here pointing at the fake DC. collector-job's tests
//! check that its own reader accepts it.

use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};

use grammers_session::types::DcOption;
use serde::Serialize;

/// The blob format's version, as collector-job's `session.rs` reads it.
const VERSION: u32 = 1;

#[derive(Serialize)]
struct Blob {
    version: u32,
    home_dc: i32,
    dc_options: Vec<DcOption>,
}

/// A session whose home DC is `home_dc`, with each DC's address and the account's auth key
/// there.
pub fn blob(home_dc: i32, dcs: &[(i32, SocketAddr, [u8; 256])]) -> String {
    serde_json::to_string(&Blob {
        version: VERSION,
        home_dc,
        dc_options: dcs
            .iter()
            .map(|&(id, addr, key)| option(id, addr, key))
            .collect(),
    })
    .expect("a session blob is plain data")
}

/// DC `dc_id` at `addr` with `auth_key`. An IPv6 `addr` is written as the IPv6 address; the
/// IPv4 one (which grammers uses by default) is then 127.0.0.1 on the same port.
fn option(dc_id: i32, addr: SocketAddr, auth_key: [u8; 256]) -> DcOption {
    let (ipv4, ipv6) = match addr {
        SocketAddr::V4(v4) => (
            v4,
            SocketAddrV6::new(v4.ip().to_ipv6_mapped(), v4.port(), 0, 0),
        ),
        SocketAddr::V6(v6) => (
            SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, v6.port()),
            v6,
        ),
    };
    DcOption {
        id: dc_id,
        ipv4,
        ipv6,
        auth_key: Some(auth_key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_blob_names_the_address_and_the_key() {
        let text = blob(
            2,
            &[
                (2, "127.0.0.1:4430".parse().unwrap(), [7; 256]),
                (4, "127.0.0.1:4431".parse().unwrap(), [8; 256]),
            ],
        );
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["version"], 1);
        assert_eq!(value["home_dc"], 2);
        let option = &value["dc_options"][0];
        assert_eq!(option["id"], 2);
        assert_eq!(option["ipv4"], "127.0.0.1:4430");
        assert_eq!(option["ipv6"], "[::ffff:127.0.0.1]:4430");
        assert_eq!(option["auth_key"], "07".repeat(256));
        let other = &value["dc_options"][1];
        assert_eq!(
            (&other["id"], &other["ipv4"]),
            (&4.into(), &"127.0.0.1:4431".into())
        );
        assert_eq!(other["auth_key"], "08".repeat(256));
    }
}
