//! A rotation of the signing key over the running stack, as `make rotate-key` does it: tokens
//! minted before keep working until they expire (the previous key still verifies them), new
//! tokens carry the new kid, and a second rotation drops the first key. `make test` runs it
//! alone (`--ignored`), after the suite: it changes the key every other test signs with. The
//! stack reads its key files before every request (JWT_KEY_REFRESH_SECONDS=0), so no test waits.

mod rotation {
    use e2e::*;
    use serde_json::json;

    /// `tools/rotate-key.sh` on the stack's key files (the environment names them).
    fn rotate_key() {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tools/rotate-key.sh");
        let status = std::process::Command::new(script)
            .status()
            .expect("tools/rotate-key.sh runs");
        assert!(status.success(), "tools/rotate-key.sh failed");
    }

    fn kid(token: &str) -> serde_json::Value {
        jwt_header(token)["kid"].clone()
    }

    #[tokio::test]
    #[ignore = "rotates the stack's signing key: make test runs it alone, after the suite"]
    async fn tokens_minted_before_a_rotation_keep_working_and_new_ones_carry_the_new_kid() {
        let before = new_user().await;
        let old_kid = kid(&before.access);
        rotate_key();

        // Minted before: still accepted, by every kind of check.
        assert_greeted(&mypage(&before.bearer()).await, &before.email);
        verify(&before.access).await.expect(200, json!({}));
        let (access, refresh_token) = rotated(&refresh(&before.refresh).await);
        // Minted after: the new key's kid, accepted too.
        let new_kid = kid(&access);
        assert_ne!(new_kid, old_kid, "new tokens carry the new kid");
        assert_eq!(kid(&refresh_token), new_kid);
        let after = login(&before.email).await;
        assert_eq!(kid(&after.access), new_kid);
        assert_greeted(&mypage(&bearer(&access)).await, &before.email);
        if jwt_header(&access)["alg"] == "ES256" {
            let published = get(JWKS, &[]).await.json();
            let kids: Vec<_> = published["keys"]
                .as_array()
                .expect("keys")
                .iter()
                .map(|k| k["kid"].clone())
                .collect();
            assert_eq!(
                kids,
                [new_kid.clone(), old_kid.clone()],
                "current first, then the previous key"
            );
        }

        // A second rotation drops the first key: what it signed is refused from then on (so
        // rotate no more often than the longest token lifetime), the second key's still pass.
        rotate_key();
        mypage(&before.bearer()).await.expect_challenge(access_invalid());
        assert_greeted(&mypage(&bearer(&access)).await, &before.email);
        assert_greeted(&mypage(&after.bearer()).await, &before.email);
    }
}
