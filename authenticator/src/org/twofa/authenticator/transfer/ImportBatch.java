package org.twofa.authenticator.transfer;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.twofa.authenticator.otp.Message;
import org.twofa.authenticator.otp.OtpAuthUri;

/** What a file or QR code holds: the accounts it can add, and notes on the entries it cannot. */
public final class ImportBatch {
    private final List<OtpAuthUri> accounts = new ArrayList<OtpAuthUri>();
    private final List<Message.Text> skipped = new ArrayList<Message.Text>();

    public void add(OtpAuthUri account) {
        accounts.add(account);
    }

    /** An entry that will not be imported, with the reason, already in the user's language. */
    public void skip(final String note) {
        skipped.add(new Message.Text() {
            @Override
            public String in(String language) {
                return note;
            }
        });
    }

    /** An entry that will not be imported ("Steam (bob)", a {@link Message.Text} such as a line number) and why. */
    public void skip(Object who, Message reason, Object... args) {
        skip(who, reasonText(reason, args));
    }

    /** An entry that will not be imported, and why (an exception of the core, say). */
    public void skip(final Object who, final Message.Text reason) {
        skipped.add(new Message.Text() {
            @Override
            public String in(String language) {
                String name = who instanceof Message.Text ? ((Message.Text) who).in(language) : String.valueOf(who);
                return name + ": " + reason.in(language);
            }
        });
    }

    private static Message.Text reasonText(final Message reason, final Object... args) {
        return new Message.Text() {
            @Override
            public String in(String language) {
                return reason.format(language, args);
            }
        };
    }

    public void addAll(ImportBatch other) {
        accounts.addAll(other.accounts);
        skipped.addAll(other.skipped);
    }

    public List<OtpAuthUri> accounts() {
        return Collections.unmodifiableList(accounts);
    }

    /** The notes in English ("Steam (bob): type steam is not supported"). */
    public List<String> skipped() {
        return skipped("en");
    }

    /** The notes in {@code language} ("pt", "en", ...; English when the app does not speak it). */
    public List<String> skipped(String language) {
        List<String> notes = new ArrayList<String>(skipped.size());
        for (Message.Text t : skipped) {
            notes.add(t.in(language));
        }
        return Collections.unmodifiableList(notes);
    }
}
