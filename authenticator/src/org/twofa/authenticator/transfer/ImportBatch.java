package org.twofa.authenticator.transfer;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.twofa.authenticator.otp.OtpAuthUri;

/** What a file or QR code holds: the accounts it can add, and notes on the entries it cannot. */
public final class ImportBatch {
    private final List<OtpAuthUri> accounts = new ArrayList<OtpAuthUri>();
    private final List<String> skipped = new ArrayList<String>();

    public void add(OtpAuthUri account) {
        accounts.add(account);
    }

    /** An entry that will not be imported, with the reason ("Steam (bob): type steam is not supported"). */
    public void skip(String note) {
        skipped.add(note);
    }

    public void addAll(ImportBatch other) {
        accounts.addAll(other.accounts);
        skipped.addAll(other.skipped);
    }

    public List<OtpAuthUri> accounts() {
        return Collections.unmodifiableList(accounts);
    }

    public List<String> skipped() {
        return Collections.unmodifiableList(skipped);
    }
}
