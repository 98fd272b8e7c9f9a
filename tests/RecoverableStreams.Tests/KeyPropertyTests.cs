using FsCheck;
using FsCheck.Fluent;
using RecoverableStreams.Keys;

namespace RecoverableStreams.Tests;

/// <summary>
/// The key builder, for any input: every control key lands in the LBS key's cluster hash slot (so each Lua script
/// stays on one node), and a key that cannot guarantee that is refused by options validation with a clear message.
/// </summary>
public sealed class KeyPropertyTests
{
    private const string LbsKeyMessage = "LbsStreamKey must be non-empty and either contain a non-empty {hash tag} or no '}' at all.";

    [FsCheck.NUnit.Property(MaxTest = 500)]
    public Property Every_control_key_of_a_usable_lbs_key_has_its_hash_slot_for_any_id() =>
        Prop.ForAll(LbsKeys().Where(StreamKeys.IsUsableLbsKey).ToArbitrary(), Generators.Text().ToArbitrary(), (lbs, id) =>
        {
            var keys = new StreamKeys(lbs, "group");
            var slot = HashSlot.Of(lbs);
            string[] control = [keys.Sessions, keys.Owners, keys.Owned, keys.Counts, keys.Free, keys.Names, keys.Fence, keys.Attempts, keys.Dead, keys.Events, keys.ReconcileGuard, keys.Checkpoint(id)];
            return control.All(k => HashSlot.Of(k) == slot && k != lbs);
        });

    [FsCheck.NUnit.Property(MaxTest = 500)]
    public Property Options_validation_accepts_exactly_the_usable_lbs_keys_and_names_the_rule_otherwise() =>
        Prop.ForAll(LbsKeys().ToArbitrary(), lbs =>
        {
            var errors = new RecoverableStreamOptions { ServiceName = "svc", LbsStreamKey = lbs }.Validate();
            if (StreamKeys.IsUsableLbsKey(lbs))
            {
                return errors.Count == 0;
            }

            return errors.SequenceEqual([LbsKeyMessage]) && Throws(() => _ = new StreamKeys(lbs, "group"));
        });

    [FsCheck.NUnit.Property(MaxTest = 300)]
    public Property Any_valid_service_name_derives_keys_in_one_slot_and_braces_are_refused() =>
        Prop.ForAll(Generators.Text().Where(s => !string.IsNullOrWhiteSpace(s)).ToArbitrary(), service =>
        {
            var options = new RecoverableStreamOptions { ServiceName = service };
            var errors = options.Validate();
            if (service.Contains('{', StringComparison.Ordinal) || service.Contains('}', StringComparison.Ordinal))
            {
                return errors.Any(e => e.StartsWith("ServiceName must not contain '{' or '}'", StringComparison.Ordinal));
            }

            var keys = StreamKeys.For(options);
            return errors.Count == 0 && keys.Lbs == service + "-input" && HashSlot.Of(keys.Checkpoint("1-0")) == HashSlot.Of(keys.Lbs);
        });

    [TestCase("")]
    [TestCase("{}")]
    [TestCase("a}b")]
    [TestCase("{}{tag}")]
    public void Unusable_lbs_keys_are_refused_with_a_message_naming_the_option(string lbs)
    {
        var errors = new RecoverableStreamOptions { ServiceName = "svc", LbsStreamKey = lbs }.Validate();
        Assert.That(errors, Is.EqualTo(new[] { LbsKeyMessage }));
    }

    private static bool Throws(Action action)
    {
        try
        {
            action();
            return false;
        }
        catch (ArgumentException)
        {
            return true;
        }
    }

    /// <summary>Arbitrary text, and keys built around hash tags (empty, nested, several, unbalanced).</summary>
    private static Gen<string> LbsKeys()
    {
        var text = Generators.Text();
        var tagged = from before in text
                     from tag in text
                     from after in text
                     select before + "{" + tag + "}" + after;
        return Gen.Frequency((1, text), (1, tagged));
    }
}
