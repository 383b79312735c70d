package org.twofa.authenticator.app;

import android.Manifest;
import android.app.Activity;
import android.app.AlertDialog;
import android.app.KeyguardManager;
import android.content.DialogInterface;
import android.content.Intent;
import android.content.SharedPreferences;
import android.content.pm.PackageManager;
import android.net.Uri;
import android.os.Bundle;
import android.os.Handler;
import android.os.SystemClock;
import android.provider.Settings;
import android.security.keystore.KeyPermanentlyInvalidatedException;
import android.security.keystore.UserNotAuthenticatedException;
import android.text.Editable;
import android.text.TextWatcher;
import android.view.Menu;
import android.view.MenuItem;
import android.view.View;
import android.widget.AdapterView;
import android.widget.ArrayAdapter;
import android.widget.Button;
import android.widget.EditText;
import android.widget.ListView;
import android.widget.RadioButton;
import android.widget.Spinner;
import android.widget.TextView;
import android.widget.Toast;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.InputStream;
import java.io.OutputStream;
import java.text.SimpleDateFormat;
import java.util.Arrays;
import java.util.Collections;
import java.util.Date;
import java.util.Locale;
import java.util.TimeZone;
import java.util.UUID;
import javax.crypto.Cipher;
import org.twofa.authenticator.R;
import org.twofa.authenticator.compat.AppLock;
import org.twofa.authenticator.otp.InvalidOtpAuthUriException;
import org.twofa.authenticator.otp.OtpAuthUri;
import org.twofa.authenticator.transfer.ExportFile;
import org.twofa.authenticator.transfer.ExportReminder;
import org.twofa.authenticator.transfer.GoogleMigration;
import org.twofa.authenticator.transfer.ImportBatch;
import org.twofa.authenticator.transfer.ImportException;
import org.twofa.authenticator.transfer.ImportPlan;
import org.twofa.authenticator.transfer.Importer;
import org.twofa.authenticator.transfer.MigrationBatches;
import org.twofa.authenticator.transfer.WrongPasswordException;
import org.twofa.authenticator.vault.Account;
import org.twofa.authenticator.vault.HotpAccount;
import org.twofa.authenticator.vault.NewerVaultException;
import org.twofa.authenticator.vault.Vault;
import org.twofa.authenticator.vault.VaultRepository;

/**
 * The account list, and every way to add, copy, rename, delete, export and
 * import. Accounts arrive from the camera ({@link ScanActivity}), from an
 * otpauth:// link (intent filter; this activity is singleTask so a link
 * reaches the running list through onNewIntent), from the manual-entry
 * dialog, or from an import (a twofa export, an Aegis export, a list of
 * links, Google Authenticator's transfer QR codes). The activity handles
 * rotation itself (configChanges), so open dialogs and a pending link stay.
 */
public class MainActivity extends Activity {
    private static final int REQUEST_CAMERA_PERMISSION = 1;
    private static final int REQUEST_SCAN = 2;
    private static final int REQUEST_EXPORT = 3;
    private static final int REQUEST_IMPORT = 4;
    private static final int REQUEST_UNLOCK = 5;

    private static final String PREFS = "twofa";
    private static final String PREF_LAST_CHANGE = "last_change";
    private static final String PREF_LAST_EXPORT = "last_export";
    private static final String PREF_REMINDER_DISMISSED = "reminder_dismissed";
    private static final String PREF_LOCK_TIMEOUT = "lock_timeout_s";
    /** The app-lock key stays usable this long after the screen lock was confirmed. */
    private static final int LOCK_KEY_SECONDS = 30;
    /** The search field appears above this many accounts. */
    private static final int SEARCH_ABOVE = 5;

    private final Handler ticker = new Handler();
    private final Runnable tick = new Runnable() {
        @Override
        public void run() {
            adapter.notifyDataSetChanged();
            long millis = System.currentTimeMillis();
            ticker.postDelayed(this, 1000 - millis % 1000 + 5);
        }
    };

    private VaultRepository store;
    /** Null when the saved vault could not be read: then nothing may be saved over it. */
    private Vault vault;
    private AccountAdapter adapter;
    private SharedPreferences prefs;
    /** The QR codes of a Google Authenticator transfer scanned so far. */
    private MigrationBatches migration;
    /** Chosen in the export dialog, used once the file is picked, then wiped. */
    private char[] exportPassword;
    private boolean locked;
    /** A link that arrived while the app was locked: offered once it is unlocked. */
    private String pendingLink;
    /** Our own screens (scanner, file picker, screen-lock check) are not "the background". */
    private boolean awaitingResult;
    /** SystemClock.elapsedRealtime() when the app left the screen; 0 on a fresh start. */
    private long backgroundSince;

    @Override
    protected void onCreate(Bundle state) {
        super.onCreate(state);
        Secure.window(this);
        setContentView(R.layout.main);
        store = VaultStore.open(this);
        prefs = getSharedPreferences(PREFS, MODE_PRIVATE);

        ListView list = (ListView) findViewById(R.id.accounts);
        list.setEmptyView(findViewById(R.id.empty));
        adapter = new AccountAdapter(this, Collections.<Account>emptyList(), new AccountAdapter.NextCodeListener() {
            @Override
            public void onNextCode(HotpAccount account) {
                nextCode(account);
            }
        });
        list.setAdapter(adapter);
        list.setOnItemClickListener(new AdapterView.OnItemClickListener() {
            @Override
            public void onItemClick(AdapterView<?> parent, View view, int position, long id) {
                copyCode(adapter.getItem(position));
            }
        });
        list.setOnItemLongClickListener(new AdapterView.OnItemLongClickListener() {
            @Override
            public boolean onItemLongClick(AdapterView<?> parent, View view, int position, long id) {
                showAccountActions(adapter.getItem(position));
                return true;
            }
        });
        onClick(R.id.empty_scan, new Runnable() {
            @Override
            public void run() {
                startScan();
            }
        });
        onClick(R.id.empty_manual, new Runnable() {
            @Override
            public void run() {
                showManualEntry();
            }
        });
        onClick(R.id.empty_import, new Runnable() {
            @Override
            public void run() {
                startImport();
            }
        });
        onClick(R.id.empty_set_aside, new Runnable() {
            @Override
            public void run() {
                confirmSetAside();
            }
        });
        onClick(R.id.reminder_export, new Runnable() {
            @Override
            public void run() {
                showExport();
            }
        });
        onClick(R.id.reminder_later, new Runnable() {
            @Override
            public void run() {
                prefs.edit().putLong(PREF_REMINDER_DISMISSED, System.currentTimeMillis()).apply();
                updateChrome();
            }
        });
        onClick(R.id.unlock, new Runnable() {
            @Override
            public void run() {
                askToUnlock();
            }
        });
        ((EditText) findViewById(R.id.search)).addTextChangedListener(new TextWatcher() {
            @Override
            public void beforeTextChanged(CharSequence s, int start, int count, int after) {
            }

            @Override
            public void onTextChanged(CharSequence s, int start, int before, int count) {
                adapter.setFilter(s.toString());
            }

            @Override
            public void afterTextChanged(Editable s) {
            }
        });

        // Locked before anything shows, so that a link arriving with the start waits for the unlock.
        locked = AppLock.shouldLock(lockTimeout(), 0, SystemClock.elapsedRealtime());
        loadVault();
        if (state == null) {
            handleLink(getIntent());
        }
    }

    private void onClick(int id, final Runnable action) {
        findViewById(id).setOnClickListener(new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                action.run();
            }
        });
    }

    @Override
    protected void onNewIntent(Intent intent) {
        super.onNewIntent(intent);
        setIntent(intent);
        handleLink(intent);
    }

    /** Visible (also in split screen, where the app is started but not resumed): codes keep updating. */
    @Override
    protected void onStart() {
        super.onStart();
        if (locked && !awaitingResult) {
            askToUnlock();
        } else if (!locked && !awaitingResult
                && AppLock.shouldLock(lockTimeout(), backgroundSince, SystemClock.elapsedRealtime())) {
            setLocked(true);
        }
        ticker.post(tick);
    }

    @Override
    protected void onStop() {
        ticker.removeCallbacks(tick);
        if (!isChangingConfigurations() && !awaitingResult) {
            backgroundSince = SystemClock.elapsedRealtime();
        }
        super.onStop();
    }

    // ------------------------------------------------------------ vault

    private void loadVault() {
        View setAside = findViewById(R.id.empty_set_aside);
        try {
            vault = store.load();
            ((TextView) findViewById(R.id.empty_title)).setText(R.string.empty_title);
            ((TextView) findViewById(R.id.empty_body)).setText(R.string.empty_body);
            findViewById(R.id.empty_scan).setVisibility(View.VISIBLE);
            findViewById(R.id.empty_manual).setVisibility(View.VISIBLE);
            findViewById(R.id.empty_import).setVisibility(View.VISIBLE);
            setAside.setVisibility(View.GONE);
            adapter.setAccounts(vault.accounts());
        } catch (Exception e) {
            vault = null;
            adapter.setAccounts(Collections.<Account>emptyList());
            ((TextView) findViewById(R.id.empty_title)).setText(R.string.vault_error_title);
            boolean newer = e instanceof NewerVaultException;
            ((TextView) findViewById(R.id.empty_body)).setText(getString(
                    newer ? R.string.vault_newer_body : R.string.vault_error_body, message(e)));
            findViewById(R.id.empty_scan).setVisibility(View.GONE);
            findViewById(R.id.empty_manual).setVisibility(View.GONE);
            findViewById(R.id.empty_import).setVisibility(View.GONE);
            // A vault from a newer app is fine: updating the app is the answer, not a new vault.
            setAside.setVisibility(newer ? View.GONE : View.VISIBLE);
        }
        updateChrome();
        invalidateOptionsMenu();
    }

    /** The search field, the export reminder and the lock screen, after any change. */
    private void updateChrome() {
        int count = vault == null ? 0 : vault.size();
        View search = findViewById(R.id.search);
        search.setVisibility(count > SEARCH_ABOVE && !locked ? View.VISIBLE : View.GONE);
        if (count <= SEARCH_ABOVE) {
            ((EditText) search).setText("");
        }
        boolean remind = vault != null && !locked && ExportReminder.due(count, prefs.getLong(PREF_LAST_CHANGE, 0),
                prefs.getLong(PREF_LAST_EXPORT, 0), prefs.getLong(PREF_REMINDER_DISMISSED, 0));
        findViewById(R.id.reminder).setVisibility(remind ? View.VISIBLE : View.GONE);
        if (remind) {
            long last = prefs.getLong(PREF_LAST_EXPORT, 0);
            ((TextView) findViewById(R.id.reminder_text)).setText(last == 0
                    ? getString(R.string.reminder_never)
                    : getString(R.string.reminder_since, java.text.DateFormat.getDateInstance().format(new Date(last))));
        }
        findViewById(R.id.locked).setVisibility(locked ? View.VISIBLE : View.GONE);
        findViewById(R.id.content).setVisibility(locked ? View.GONE : View.VISIBLE);
    }

    /** Saves, or reloads what is on disk and says why the change was lost. */
    private boolean saveVault(boolean accountsChanged) {
        try {
            store.save(vault);
            if (accountsChanged) {
                prefs.edit().putLong(PREF_LAST_CHANGE, System.currentTimeMillis()).apply();
            }
            adapter.setAccounts(vault.accounts());
            updateChrome();
            return true;
        } catch (Exception e) {
            alert(getString(R.string.save_failed, message(e)));
            loadVault();
            return false;
        }
    }

    /** The reason, in the phone's language when the core said it (import and vault errors). */
    private static String message(Exception e) {
        return CoreMessages.inSentence(e);
    }

    /** Keeps an unreadable vault aside (renamed, never deleted) and starts a new one. */
    private void confirmSetAside() {
        show(new AlertDialog.Builder(this)
                .setTitle(R.string.set_aside_title)
                .setMessage(R.string.set_aside_body)
                .setPositiveButton(R.string.set_aside_confirm, new DialogInterface.OnClickListener() {
                    @Override
                    public void onClick(DialogInterface dialog, int which) {
                        SimpleDateFormat format = new SimpleDateFormat("yyyyMMdd'T'HHmmss'Z'", Locale.ROOT);
                        format.setTimeZone(TimeZone.getTimeZone("UTC"));
                        try {
                            File aside = store.setAside(format.format(new Date()));
                            loadVault();
                            alert(getString(R.string.set_aside_done, aside.getName()));
                        } catch (Exception e) {
                            alert(getString(R.string.set_aside_failed, message(e)));
                        }
                    }
                })
                .setNegativeButton(R.string.cancel, null)
                .create());
    }

    /** Adds the accounts of vaults set aside earlier, if they can be read now (e.g. after a Keystore hiccup). */
    private void recoverSetAside() {
        ImportBatch all = new ImportBatch();
        for (File f : store.setAsideFiles()) {
            try {
                Vault old = store.readSetAside(f);
                for (Account a : old.accounts()) {
                    all.add(VaultAccounts.toUri(a));
                }
            } catch (Exception e) {
                all.skip(f.getName() + ": " + message(e));
            }
        }
        showImportPlan(all);
    }

    // ------------------------------------------------------------ add

    /**
     * Adds an account from a link, a scan or the manual form. An account
     * with the same issuer and name (a re-enrolment) offers to replace the
     * old entry instead of adding a second one that looks the same.
     */
    private void addAccount(final OtpAuthUri parsed) {
        if (vault == null) {
            alert(getString(R.string.vault_error_title));
            return;
        }
        final Account candidate = ImportPlan.account(UUID.randomUUID().toString(), parsed);
        final Account sameLabel = vault.findSameLabel(parsed.issuer(), parsed.accountName());
        if (sameLabel != null && sameLabel.sameSecret(candidate)) {
            alert(getString(R.string.duplicate));
            return;
        }
        if (sameLabel == null) {
            vault.add(candidate);
            saveVault(true);
            return;
        }
        show(new AlertDialog.Builder(this)
                .setTitle(R.string.replace_title)
                .setMessage(getString(R.string.replace_body, AccountAdapter.describe(sameLabel)))
                .setPositiveButton(R.string.replace_confirm, new DialogInterface.OnClickListener() {
                    @Override
                    public void onClick(DialogInterface dialog, int which) {
                        if (vault != null && vault.replace(candidate.withId(sameLabel.id()))) {
                            saveVault(true);
                        }
                    }
                })
                .setNeutralButton(R.string.replace_keep_both, new DialogInterface.OnClickListener() {
                    @Override
                    public void onClick(DialogInterface dialog, int which) {
                        if (vault != null) {
                            vault.add(candidate);
                            saveVault(true);
                        }
                    }
                })
                .setNegativeButton(R.string.cancel, null)
                .create());
    }

    /** HOTP: the moved-on counter is saved first, so a code is never shown (and used) twice. */
    private void nextCode(HotpAccount account) {
        if (vault == null || locked) {
            return;
        }
        HotpAccount next = account.next();
        if (vault.replace(next)) {
            saveVault(false);
        }
    }

    // ------------------------------------------------------------ menu

    @Override
    public boolean onCreateOptionsMenu(Menu menu) {
        getMenuInflater().inflate(R.menu.main, menu);
        return true;
    }

    @Override
    public boolean onPrepareOptionsMenu(Menu menu) {
        boolean usable = vault != null && !locked;
        menu.findItem(R.id.action_scan).setVisible(usable);
        menu.findItem(R.id.action_manual).setVisible(usable);
        menu.findItem(R.id.action_export).setVisible(usable && vault.size() > 0);
        menu.findItem(R.id.action_import).setVisible(usable);
        menu.findItem(R.id.action_lock).setVisible(!locked);
        menu.findItem(R.id.action_recover).setVisible(usable && !store.setAsideFiles().isEmpty());
        return true;
    }

    @Override
    public boolean onOptionsItemSelected(MenuItem item) {
        int id = item.getItemId();
        if (id == R.id.action_scan) {
            startScan();
        } else if (id == R.id.action_manual) {
            showManualEntry();
        } else if (id == R.id.action_export) {
            showExport();
        } else if (id == R.id.action_import) {
            startImport();
        } else if (id == R.id.action_lock) {
            showLockSettings();
        } else if (id == R.id.action_recover) {
            recoverSetAside();
        } else {
            return super.onOptionsItemSelected(item);
        }
        return true;
    }

    // ------------------------------------------------------------ copy, rename, delete

    private void copyCode(Account account) {
        String code = AccountAdapter.currentCode(account);
        if (code == null || locked) {
            return;
        }
        boolean systemConfirms = Secure.copy(this, code);
        if (!systemConfirms) {
            Toast.makeText(this, R.string.copied, Toast.LENGTH_SHORT).show();
        }
    }

    private void showAccountActions(final Account account) {
        String[] actions = {getString(R.string.menu_rename), getString(R.string.menu_delete)};
        show(new AlertDialog.Builder(this)
                .setTitle(getString(R.string.account_actions, AccountAdapter.describe(account)))
                .setItems(actions, new DialogInterface.OnClickListener() {
                    @Override
                    public void onClick(DialogInterface dialog, int which) {
                        if (which == 0) {
                            showRename(account);
                        } else {
                            confirmDelete(account);
                        }
                    }
                })
                .create());
    }

    private void showRename(final Account account) {
        final View form = getLayoutInflater().inflate(R.layout.dialog_account, null);
        final EditText issuer = (EditText) form.findViewById(R.id.field_issuer);
        final EditText name = (EditText) form.findViewById(R.id.field_account);
        form.findViewById(R.id.field_secret).setVisibility(View.GONE);
        form.findViewById(R.id.advanced).setVisibility(View.GONE);
        issuer.setText(account.issuer());
        name.setText(account.name());
        final AlertDialog dialog = new AlertDialog.Builder(this)
                .setTitle(R.string.rename_title)
                .setView(form)
                .setPositiveButton(R.string.save, null)
                .setNegativeButton(R.string.cancel, null)
                .create();
        show(dialog);
        dialog.getButton(AlertDialog.BUTTON_POSITIVE).setOnClickListener(new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                String newName = name.getText().toString().trim();
                if (newName.isEmpty()) {
                    showFieldError(form, getString(R.string.error_account_empty));
                    return;
                }
                if (vault != null && vault.rename(account.id(), issuer.getText().toString().trim(), newName)) {
                    saveVault(true);
                }
                dialog.dismiss();
            }
        });
    }

    private void confirmDelete(final Account account) {
        show(new AlertDialog.Builder(this)
                .setTitle(R.string.delete_title)
                .setMessage(getString(R.string.delete_body, AccountAdapter.describe(account)))
                .setPositiveButton(R.string.delete_confirm, new DialogInterface.OnClickListener() {
                    @Override
                    public void onClick(DialogInterface dialog, int which) {
                        if (vault != null && vault.remove(account.id())) {
                            saveVault(true);
                        }
                    }
                })
                .setNegativeButton(R.string.cancel, null)
                .create());
    }

    // ------------------------------------------------------------ add: manual entry

    private void showManualEntry() {
        if (vault == null) {
            return;
        }
        final View form = getLayoutInflater().inflate(R.layout.dialog_account, null);
        final EditText issuer = (EditText) form.findViewById(R.id.field_issuer);
        final EditText name = (EditText) form.findViewById(R.id.field_account);
        final EditText secret = (EditText) form.findViewById(R.id.field_secret);
        final RadioButton hotp = (RadioButton) form.findViewById(R.id.type_hotp);
        final Spinner algorithm = (Spinner) form.findViewById(R.id.field_algorithm);
        final EditText digits = (EditText) form.findViewById(R.id.field_digits);
        final EditText period = (EditText) form.findViewById(R.id.field_period);
        final EditText counter = (EditText) form.findViewById(R.id.field_counter);
        ArrayAdapter<String> algorithms = new ArrayAdapter<String>(this, android.R.layout.simple_spinner_item,
                new String[] {"SHA1", "SHA256", "SHA512"});
        algorithms.setDropDownViewResource(android.R.layout.simple_spinner_dropdown_item);
        algorithm.setAdapter(algorithms);
        View.OnClickListener typeChanged = new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                boolean counterBased = hotp.isChecked();
                form.findViewById(R.id.row_period).setVisibility(counterBased ? View.GONE : View.VISIBLE);
                form.findViewById(R.id.row_counter).setVisibility(counterBased ? View.VISIBLE : View.GONE);
            }
        };
        hotp.setOnClickListener(typeChanged);
        form.findViewById(R.id.type_totp).setOnClickListener(typeChanged);
        final AlertDialog dialog = new AlertDialog.Builder(this)
                .setTitle(R.string.add_title)
                .setView(form)
                .setPositiveButton(R.string.add, null)
                .setNegativeButton(R.string.cancel, null)
                .create();
        show(dialog);
        // Our own listener keeps the dialog open while the input is wrong.
        dialog.getButton(AlertDialog.BUTTON_POSITIVE).setOnClickListener(new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                OtpAuthUri entered;
                try {
                    entered = OtpAuthUri.manual(hotp.isChecked(), issuer.getText().toString(),
                            name.getText().toString(), secret.getText().toString(),
                            (String) algorithm.getSelectedItem(), digits.getText().toString(),
                            period.getText().toString(), counter.getText().toString());
                } catch (InvalidOtpAuthUriException e) {
                    showFieldError(form, CoreMessages.of(e));
                    return;
                }
                dialog.dismiss();
                addAccount(entered);
            }
        });
    }

    private static void showFieldError(View form, String text) {
        TextView error = (TextView) form.findViewById(R.id.field_error);
        error.setText(text);
        error.setVisibility(View.VISIBLE);
    }

    // ------------------------------------------------------------ add: otpauth link or scanned QR

    private void handleLink(Intent intent) {
        if (intent == null || !Intent.ACTION_VIEW.equals(intent.getAction()) || intent.getData() == null) {
            return;
        }
        String uri = intent.getDataString();
        // Handled once: coming back to the task must not ask again.
        intent.setData(null);
        intent.setAction(Intent.ACTION_MAIN);
        if (locked) {
            pendingLink = uri != null ? uri : "";
            return;
        }
        offerLink(uri != null ? uri : "");
    }

    private void offerLink(String uri) {
        if (vault == null) {
            return;
        }
        if (GoogleMigration.isMigrationUri(uri)) {
            offerMigration(uri);
            return;
        }
        final OtpAuthUri parsed;
        try {
            parsed = OtpAuthUri.parse(uri);
        } catch (InvalidOtpAuthUriException e) {
            show(new AlertDialog.Builder(this)
                    .setTitle(R.string.invalid_link_title)
                    .setMessage(getString(R.string.invalid_link_body, CoreMessages.of(e)))
                    .setPositiveButton(R.string.ok, null)
                    .create());
            return;
        }
        String who = parsed.issuer().isEmpty() ? parsed.accountName()
                : parsed.issuer() + " (" + parsed.accountName() + ")";
        show(new AlertDialog.Builder(this)
                .setTitle(R.string.add_title)
                .setMessage(getString(R.string.add_link_body, who))
                .setPositiveButton(R.string.add, new DialogInterface.OnClickListener() {
                    @Override
                    public void onClick(DialogInterface dialog, int which) {
                        addAccount(parsed);
                    }
                })
                .setNegativeButton(R.string.cancel, null)
                .create());
    }

    /** One QR code of a Google Authenticator transfer: collect until the batch is complete. */
    private void offerMigration(String uri) {
        try {
            GoogleMigration.Part part = GoogleMigration.parse(uri);
            if (migration == null) {
                migration = new MigrationBatches();
            }
            migration.add(part);
        } catch (ImportException e) {
            alert(getString(R.string.import_failed, message(e)));
            return;
        }
        if (migration.complete()) {
            ImportBatch batch = migration.accounts();
            migration = null;
            showImportPlan(batch);
            return;
        }
        show(new AlertDialog.Builder(this)
                .setTitle(R.string.migration_title)
                .setMessage(getResources().getQuantityString(R.plurals.migration_progress, migration.size(),
                        migration.scanned(), migration.size()))
                .setPositiveButton(R.string.migration_scan_next, new DialogInterface.OnClickListener() {
                    @Override
                    public void onClick(DialogInterface dialog, int which) {
                        startScan();
                    }
                })
                .setNegativeButton(R.string.migration_stop, new DialogInterface.OnClickListener() {
                    @Override
                    public void onClick(DialogInterface dialog, int which) {
                        migration = null;
                    }
                })
                .create());
    }

    // ------------------------------------------------------------ export

    private void showExport() {
        if (vault == null || vault.size() == 0) {
            return;
        }
        final View form = getLayoutInflater().inflate(R.layout.dialog_password, null);
        final EditText password = (EditText) form.findViewById(R.id.field_password);
        final EditText again = (EditText) form.findViewById(R.id.field_password_again);
        ((TextView) form.findViewById(R.id.password_hint)).setText(R.string.export_hint);
        final AlertDialog dialog = new AlertDialog.Builder(this)
                .setTitle(R.string.export_title)
                .setView(form)
                .setPositiveButton(R.string.export_choose_file, null)
                .setNegativeButton(R.string.cancel, null)
                .create();
        show(dialog);
        dialog.getButton(AlertDialog.BUTTON_POSITIVE).setOnClickListener(new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                String first = password.getText().toString();
                if (first.length() < 8) {
                    showFieldError(form, getString(R.string.export_password_short));
                    return;
                }
                if (!first.equals(again.getText().toString())) {
                    showFieldError(form, getString(R.string.export_password_mismatch));
                    return;
                }
                exportPassword = first.toCharArray();
                password.setText("");
                again.setText("");
                dialog.dismiss();
                SimpleDateFormat day = new SimpleDateFormat("yyyy-MM-dd", Locale.ROOT);
                // The system file picker (Storage Access Framework): no storage permission needed.
                Intent pick = new Intent(Intent.ACTION_CREATE_DOCUMENT)
                        .addCategory(Intent.CATEGORY_OPENABLE)
                        .setType("application/octet-stream")
                        .putExtra(Intent.EXTRA_TITLE, "twofa-export-" + day.format(new Date()) + ".2fa");
                startActivityForResult(pick, REQUEST_EXPORT);
            }
        });
    }

    private void writeExport(final Uri target) {
        final char[] password = exportPassword;
        exportPassword = null;
        if (password == null || vault == null) {
            return;
        }
        final Vault snapshot = new Vault();
        for (Account a : vault.accounts()) {
            snapshot.add(a);
        }
        final long startedAt = System.currentTimeMillis();
        final Toast working = Toast.makeText(this, R.string.working, Toast.LENGTH_LONG);
        working.show();
        new Thread(new Runnable() {
            @Override
            public void run() {
                Exception failure = null;
                try {
                    byte[] data = ExportFile.encrypt(snapshot, password);
                    OutputStream out = getContentResolver().openOutputStream(target, "wt");
                    if (out == null) {
                        throw new java.io.IOException("the file picker gave no file");
                    }
                    try {
                        out.write(data);
                    } finally {
                        out.close();
                    }
                } catch (Exception e) {
                    failure = e;
                } finally {
                    Arrays.fill(password, '\0');
                }
                final Exception error = failure;
                runOnUiThread(new Runnable() {
                    @Override
                    public void run() {
                        working.cancel();
                        if (error != null) {
                            alert(getString(R.string.export_failed, message(error)));
                            return;
                        }
                        prefs.edit().putLong(PREF_LAST_EXPORT, startedAt).apply();
                        updateChrome();
                        alert(getResources().getQuantityString(R.plurals.export_done, snapshot.size(),
                                snapshot.size()));
                    }
                });
            }
        }).start();
    }

    // ------------------------------------------------------------ import

    private void startImport() {
        if (vault == null) {
            return;
        }
        Intent pick = new Intent(Intent.ACTION_OPEN_DOCUMENT)
                .addCategory(Intent.CATEGORY_OPENABLE)
                .setType("*/*");
        startActivityForResult(pick, REQUEST_IMPORT);
    }

    private void readImport(final Uri source) {
        new Thread(new Runnable() {
            @Override
            public void run() {
                byte[] data = null;
                Exception failure = null;
                try {
                    InputStream in = getContentResolver().openInputStream(source);
                    if (in == null) {
                        throw new java.io.IOException("the file picker gave no file");
                    }
                    try {
                        ByteArrayOutputStream out = new ByteArrayOutputStream();
                        byte[] buf = new byte[8192];
                        int n;
                        while ((n = in.read(buf)) > 0) {
                            out.write(buf, 0, n);
                            if (out.size() > Importer.MAX_FILE_BYTES) {
                                throw new ImportException(getString(R.string.import_too_large));
                            }
                        }
                        data = out.toByteArray();
                    } finally {
                        in.close();
                    }
                } catch (Exception e) {
                    failure = e;
                }
                final byte[] bytes = data;
                final Exception error = failure;
                runOnUiThread(new Runnable() {
                    @Override
                    public void run() {
                        if (error != null) {
                            alert(getString(R.string.import_failed, message(error)));
                            return;
                        }
                        importBytes(bytes, false);
                    }
                });
            }
        }).start();
    }

    private void importBytes(final byte[] data, boolean wrongPassword) {
        Importer.Format format;
        try {
            format = Importer.detect(data);
        } catch (ImportException e) {
            alert(getString(R.string.import_failed, message(e)));
            return;
        }
        if (!format.needsPassword) {
            decodeImport(data, null);
            return;
        }
        final View form = getLayoutInflater().inflate(R.layout.dialog_password, null);
        final EditText password = (EditText) form.findViewById(R.id.field_password);
        form.findViewById(R.id.field_password_again).setVisibility(View.GONE);
        ((TextView) form.findViewById(R.id.password_hint)).setText(
                format == Importer.Format.TWOFA_EXPORT ? R.string.import_password_twofa : R.string.import_password_aegis);
        if (wrongPassword) {
            showFieldError(form, getString(R.string.import_wrong_password));
        }
        final AlertDialog dialog = new AlertDialog.Builder(this)
                .setTitle(R.string.import_title)
                .setView(form)
                .setPositiveButton(R.string.import_open, null)
                .setNegativeButton(R.string.cancel, null)
                .create();
        show(dialog);
        dialog.getButton(AlertDialog.BUTTON_POSITIVE).setOnClickListener(new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                char[] pw = password.getText().toString().toCharArray();
                password.setText("");
                dialog.dismiss();
                decodeImport(data, pw);
            }
        });
    }

    /** scrypt takes a moment: off the main thread. */
    private void decodeImport(final byte[] data, final char[] password) {
        final Toast working = Toast.makeText(this, R.string.working, Toast.LENGTH_LONG);
        working.show();
        new Thread(new Runnable() {
            @Override
            public void run() {
                ImportBatch batch = null;
                Exception failure = null;
                try {
                    batch = Importer.read(data, password);
                } catch (Exception e) {
                    failure = e;
                } finally {
                    if (password != null) {
                        Arrays.fill(password, '\0');
                    }
                }
                final ImportBatch result = batch;
                final Exception error = failure;
                runOnUiThread(new Runnable() {
                    @Override
                    public void run() {
                        working.cancel();
                        if (error instanceof WrongPasswordException) {
                            importBytes(data, true);
                        } else if (error != null) {
                            alert(getString(R.string.import_failed, message(error)));
                        } else {
                            showImportPlan(result);
                        }
                    }
                });
            }
        }).start();
    }

    /** What the import will add, what it skips as already here, and what it cannot read; nothing changes before "Add". */
    private void showImportPlan(ImportBatch batch) {
        if (vault == null) {
            return;
        }
        final ImportPlan plan = new ImportPlan(vault, batch);
        StringBuilder text = new StringBuilder();
        int adds = plan.toAdd().size();
        text.append(getResources().getQuantityString(R.plurals.import_will_add, adds, adds));
        for (Account a : plan.toAdd()) {
            text.append("\n • ").append(AccountAdapter.describe(a));
        }
        int dups = plan.duplicates().size();
        if (dups > 0) {
            text.append("\n\n").append(getResources().getQuantityString(R.plurals.import_duplicates, dups, dups));
            for (Account a : plan.duplicates()) {
                text.append("\n • ").append(AccountAdapter.describe(a));
            }
        }
        int skipped = plan.skipped().size();
        if (skipped > 0) {
            text.append("\n\n").append(getResources().getQuantityString(R.plurals.import_skipped, skipped, skipped));
            for (String note : plan.skipped(Locale.getDefault().getLanguage())) {
                text.append("\n • ").append(note);
            }
        }
        AlertDialog.Builder builder = new AlertDialog.Builder(this)
                .setTitle(R.string.import_title)
                .setMessage(text.toString())
                .setNegativeButton(R.string.cancel, null);
        if (adds > 0) {
            builder.setPositiveButton(R.string.add, new DialogInterface.OnClickListener() {
                @Override
                public void onClick(DialogInterface dialog, int which) {
                    if (vault != null) {
                        plan.applyTo(vault);
                        saveVault(true);
                    }
                }
            });
        }
        show(builder.create());
    }

    // ------------------------------------------------------------ app lock

    private long lockTimeout() {
        return prefs.getLong(PREF_LOCK_TIMEOUT, AppLock.OFF);
    }

    private void setLocked(boolean value) {
        locked = value;
        updateChrome();
        invalidateOptionsMenu();
        if (locked) {
            askToUnlock();
        }
    }

    /**
     * BiometricPrompt on Android 9+ (fingerprint, face, and on 10+ the screen
     * lock in the same prompt); the screen lock's own confirmation screen on
     * Android 7 and 8, and whenever the prompt cannot be used.
     */
    private void askToUnlock() {
        try {
            if (BiometricUnlock.start(this, new BiometricUnlock.Result() {
                @Override
                public void unlocked() {
                    unlockIfKeyAgrees(true);
                }

                @Override
                public void fallBack() {
                    confirmCredential();
                }
            })) {
                return;
            }
        } catch (Exception e) {
            // the confirmation screen below still works
        }
        confirmCredential();
    }

    /** The screen lock's own confirmation (PIN, pattern, password). */
    private void confirmCredential() {
        KeyguardManager keyguard = (KeyguardManager) getSystemService(KEYGUARD_SERVICE);
        Intent confirm = keyguard.createConfirmDeviceCredentialIntent(getString(R.string.app_name),
                getString(R.string.lock_prompt));
        if (confirm == null) {
            // The screen lock was removed: the lock key is gone with it; the lock cannot hold.
            prefs.edit().putLong(PREF_LOCK_TIMEOUT, AppLock.OFF).apply();
            locked = false;
            updateChrome();
            alert(getString(R.string.lock_no_screen_lock));
            return;
        }
        startActivityForResult(confirm, REQUEST_UNLOCK);
    }

    /**
     * Unlocks when the lock key works; after a biometric that the Keystore
     * does not count (a "weak" face unlock), the screen-lock confirmation follows.
     */
    private void unlockIfKeyAgrees(boolean mayConfirmCredential) {
        if (lockKeyUsable()) {
            locked = false;
            updateChrome();
            invalidateOptionsMenu();
            if (pendingLink != null) {
                String link = pendingLink;
                pendingLink = null;
                offerLink(link);
            }
        } else if (mayConfirmCredential) {
            confirmCredential();
        }
    }

    /** The unlock counts only when the Keystore agrees: the lock key works only right after a confirmation. */
    private boolean lockKeyUsable() {
        try {
            Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
            cipher.init(Cipher.ENCRYPT_MODE, KeystoreKeys.lockKey(this, LOCK_KEY_SECONDS));
            return true;
        } catch (UserNotAuthenticatedException e) {
            return false;
        } catch (KeyPermanentlyInvalidatedException e) {
            // The screen lock changed: a new key, and the user confirms once more.
            try {
                KeystoreKeys.deleteLockKey();
                KeystoreKeys.lockKey(this, LOCK_KEY_SECONDS);
            } catch (Exception ignored) {
                // reported by the next attempt
            }
            return false;
        } catch (Exception e) {
            alert(getString(R.string.lock_error, message(e)));
            return false;
        }
    }

    private void showLockSettings() {
        final long[] choices = AppLock.TIMEOUTS_SECONDS;
        String[] labels = new String[choices.length];
        int checked = 0;
        for (int i = 0; i < choices.length; i++) {
            long s = choices[i];
            labels[i] = s == AppLock.OFF ? getString(R.string.lock_off)
                    : s == 0 ? getString(R.string.lock_immediately)
                    : s < 60 ? getResources().getQuantityString(R.plurals.lock_after_seconds, (int) s, (int) s)
                    : getResources().getQuantityString(R.plurals.lock_after_minutes, (int) (s / 60), (int) (s / 60));
            if (s == lockTimeout()) {
                checked = i;
            }
        }
        show(new AlertDialog.Builder(this)
                .setTitle(R.string.lock_title)
                .setSingleChoiceItems(labels, checked, new DialogInterface.OnClickListener() {
                    @Override
                    public void onClick(DialogInterface dialog, int which) {
                        dialog.dismiss();
                        chooseLockTimeout(choices[which]);
                    }
                })
                .setNegativeButton(R.string.cancel, null)
                .create());
    }

    private void chooseLockTimeout(long seconds) {
        if (seconds == AppLock.OFF) {
            prefs.edit().putLong(PREF_LOCK_TIMEOUT, AppLock.OFF).apply();
            try {
                KeystoreKeys.deleteLockKey();
            } catch (Exception e) {
                // a stale key does no harm: it is made anew when the lock is turned on
            }
            return;
        }
        KeyguardManager keyguard = (KeyguardManager) getSystemService(KEYGUARD_SERVICE);
        if (!keyguard.isKeyguardSecure()) {
            alert(getString(R.string.lock_no_screen_lock));
            return;
        }
        try {
            KeystoreKeys.lockKey(this, LOCK_KEY_SECONDS);
        } catch (Exception e) {
            alert(getString(R.string.lock_error, message(e)));
            return;
        }
        prefs.edit().putLong(PREF_LOCK_TIMEOUT, seconds).apply();
    }

    // ------------------------------------------------------------ add: camera

    private void startScan() {
        if (vault == null) {
            return;
        }
        if (checkSelfPermission(Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED) {
            startActivityForResult(new Intent(this, ScanActivity.class), REQUEST_SCAN);
            return;
        }
        requestPermissions(new String[] {Manifest.permission.CAMERA}, REQUEST_CAMERA_PERMISSION);
    }

    @Override
    public void onRequestPermissionsResult(int requestCode, String[] permissions, int[] results) {
        if (requestCode != REQUEST_CAMERA_PERMISSION) {
            return;
        }
        if (results.length > 0 && results[0] == PackageManager.PERMISSION_GRANTED) {
            startActivityForResult(new Intent(this, ScanActivity.class), REQUEST_SCAN);
            return;
        }
        // After a "don't ask again" (or a policy), Android no longer shows its prompt:
        // send the user to Settings instead of asking in vain.
        boolean canAskAgain = shouldShowRequestPermissionRationale(Manifest.permission.CAMERA);
        AlertDialog.Builder builder = new AlertDialog.Builder(this)
                .setTitle(R.string.camera_denied_title)
                .setMessage(canAskAgain ? R.string.camera_denied_body : R.string.camera_denied_forever_body)
                .setNeutralButton(R.string.action_manual, new DialogInterface.OnClickListener() {
                    @Override
                    public void onClick(DialogInterface dialog, int which) {
                        showManualEntry();
                    }
                })
                .setNegativeButton(R.string.cancel, null);
        if (canAskAgain) {
            builder.setPositiveButton(R.string.try_again, new DialogInterface.OnClickListener() {
                @Override
                public void onClick(DialogInterface dialog, int which) {
                    startScan();
                }
            });
        } else {
            builder.setPositiveButton(R.string.open_settings, new DialogInterface.OnClickListener() {
                @Override
                public void onClick(DialogInterface dialog, int which) {
                    startActivity(new Intent(Settings.ACTION_APPLICATION_DETAILS_SETTINGS,
                            Uri.fromParts("package", getPackageName(), null)));
                }
            });
        }
        show(builder.create());
    }

    @Override
    public void startActivityForResult(Intent intent, int requestCode) {
        awaitingResult = true;
        super.startActivityForResult(intent, requestCode);
    }

    @Override
    protected void onActivityResult(int requestCode, int resultCode, Intent data) {
        super.onActivityResult(requestCode, resultCode, data);
        awaitingResult = false;
        if (requestCode == REQUEST_SCAN && resultCode == RESULT_OK && data != null) {
            String uri = data.getStringExtra(ScanActivity.EXTRA_URI);
            if (uri != null) {
                offerLink(uri);
            }
        } else if (requestCode == REQUEST_SCAN && resultCode == ScanActivity.RESULT_CAMERA_FAILED) {
            alert(getString(R.string.camera_unavailable));
        } else if (requestCode == REQUEST_EXPORT) {
            if (resultCode == RESULT_OK && data != null && data.getData() != null) {
                writeExport(data.getData());
            } else if (exportPassword != null) {
                Arrays.fill(exportPassword, '\0');
                exportPassword = null;
            }
        } else if (requestCode == REQUEST_IMPORT && resultCode == RESULT_OK && data != null && data.getData() != null) {
            readImport(data.getData());
        } else if (requestCode == REQUEST_UNLOCK) {
            if (resultCode == RESULT_OK) {
                unlockIfKeyAgrees(false);
            }
        }
    }

    // ------------------------------------------------------------ dialogs

    private void show(AlertDialog dialog) {
        Secure.dialog(dialog).show();
    }

    private void alert(String text) {
        show(new AlertDialog.Builder(this).setMessage(text).setPositiveButton(R.string.ok, null).create());
    }
}
