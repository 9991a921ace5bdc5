//! End-to-end: every route over real HTTP through cargo lambda's router and real DynamoDB.

mod attacks;
mod conventions;
mod flows;
mod join;
mod login;
mod logout;
mod mypage;
mod password_change;
mod races;
mod refresh;
