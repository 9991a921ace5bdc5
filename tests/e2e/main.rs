//! End-to-end: every route over real HTTP through cargo lambda's router and real DynamoDB.

mod flows;
