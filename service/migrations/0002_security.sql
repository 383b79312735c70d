-- Security fixes (issue 12). The local part of an e-mail is compared
-- without the case of its ASCII letters; `email` keeps what was typed, for
-- display. Accounts that already collide after folding keep email_fold NULL:
-- they are found only by their exact address and reported by
-- `twofa check-config --connect`, never merged.
ALTER TABLE users ADD COLUMN email_fold text;

UPDATE users u
SET email_fold = translate(u.email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
WHERE (SELECT count(*) FROM users v
       WHERE translate(v.email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
           = translate(u.email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')) = 1;

CREATE UNIQUE INDEX users_email_fold ON users (email_fold);
CREATE INDEX users_email_unfolded
    ON users (translate(email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'))
    WHERE email_fold IS NULL;

-- Recovery codes are made when an authenticator is confirmed; until the
-- recovery codes page shows them once, they wait in the new session sealed
-- with the secret key (AES-256-GCM, the user id as associated data).
ALTER TABLE sessions ADD COLUMN recovery_codes_ct bytea, ADD COLUMN recovery_codes_key text;
