using RecoverableStreams.Configuration;

namespace RecoverableStreams.Tests;

public sealed class OptionsValidationTests
{
    private static RecoverableStreamOptions Valid() => new() { ServiceName = "svc" };

    [Test]
    public void Defaults_with_a_service_name_are_valid()
    {
        Assert.That(Valid().Validate(), Is.Empty);
    }

    [Test]
    public void Documented_defaults_hold()
    {
        var options = Valid();

        Assert.That(options.LeaseDuration, Is.EqualTo(TimeSpan.FromSeconds(10)));
        Assert.That(options.RenewInterval, Is.Null);
        Assert.That(options.SweepInterval, Is.EqualTo(TimeSpan.FromSeconds(5)));
        Assert.That(options.ReconcileInterval, Is.EqualTo(TimeSpan.FromSeconds(60)));
        Assert.That(options.MaxConcurrentStreams, Is.EqualTo(100));
        Assert.That(options.KeyspaceNotifications, Is.EqualTo(KeyspaceNotificationsMode.Merge));
        Assert.That(options.PollInterval, Is.EqualTo(TimeSpan.FromSeconds(1)));
        Assert.That(options.DeliveryCheckInterval, Is.EqualTo(TimeSpan.FromSeconds(5)));
        Assert.That(options.SafetyPollBudget, Is.EqualTo(5000));
        Assert.That(options.AutoClaim, Is.False);
        Assert.That(options.Database, Is.EqualTo(-1));
    }

    private static IEnumerable<TestCaseData> Violations()
    {
        TestCaseData Case(string option, Action<RecoverableStreamOptions> breakIt) => new TestCaseData(option, breakIt).SetArgDisplayNames(option);

        yield return Case("ServiceName", o => o.ServiceName = "");
        yield return Case("DeliveryCheckInterval", o => o.DeliveryCheckInterval = TimeSpan.Zero);
        yield return Case("SafetyPollBudget", o => o.SafetyPollBudget = 0);
        yield return Case("ServiceName", o => o.ServiceName = "a{b}");
        yield return Case("LbsStreamKey", o => o.LbsStreamKey = "");
        yield return Case("LbsStreamKey", o => o.LbsStreamKey = "a}b");
        yield return Case("ConsumerGroup", o => o.ConsumerGroup = " ");
        yield return Case("ConsumerId", o => o.ConsumerId = " ");
        yield return Case("ConsumerId", o => o.ConsumerId = "a|b");
        yield return Case("Database", o => o.Database = -2);
        yield return Case("LeaseDuration", o => o.LeaseDuration = TimeSpan.FromMilliseconds(50));
        yield return Case("LeaseDuration", o => o.LeaseDuration = TimeSpan.FromHours(2));
        yield return Case("RenewInterval", o => o.RenewInterval = TimeSpan.Zero);
        yield return Case("RenewInterval", o => o.RenewInterval = TimeSpan.FromSeconds(6));
        // Half the lease: the local deadline (RenewInterval + LeaseDuration / 10 before Redis') falls before the next
        // renewal is even sent, so every session would end; anything over a quarter leaves less than 40% for a reply.
        yield return Case("RenewInterval", o => o.RenewInterval = TimeSpan.FromSeconds(5));
        yield return Case("RenewInterval", o => o.RenewInterval = TimeSpan.FromMilliseconds(2501));
        yield return Case("SweepInterval", o => o.SweepInterval = TimeSpan.Zero);
        yield return Case("ReconcileInterval", o => o.ReconcileInterval = TimeSpan.FromSeconds(-1));
        yield return Case("PollInterval", o => o.PollInterval = TimeSpan.Zero);
        yield return Case("HandlerStallTimeout", o => o.HandlerStallTimeout = TimeSpan.Zero);
        yield return Case("MaxConcurrentStreams", o => o.MaxConcurrentStreams = 0);
        yield return Case("MaxDataStreamNameLength", o => o.MaxDataStreamNameLength = 0);
        yield return Case("MaxLbsPayloadBytes", o => o.MaxLbsPayloadBytes = 10);
        yield return Case("MaxInfoDepth", o => o.MaxInfoDepth = 1);
        yield return Case("MaxLbsEntryFields", o => o.MaxLbsEntryFields = 0);
        yield return Case("DeadLetterMaxLength", o => o.DeadLetterMaxLength = 0);
        yield return Case("KeyspaceNotifications", o => o.KeyspaceNotifications = (KeyspaceNotificationsMode)42);
    }

    [TestCaseSource(nameof(Violations))]
    public void Each_rule_names_its_option(string option, Action<RecoverableStreamOptions> breakIt)
    {
        var options = Valid();
        breakIt(options);

        var errors = options.Validate();

        Assert.That(errors, Has.Count.EqualTo(1));
        Assert.That(errors[0], Does.StartWith(option + " "));
    }

    [Test]
    public void Every_problem_is_reported_at_once_and_the_exception_names_each_option()
    {
        var options = new RecoverableStreamOptions { ServiceName = "", MaxConcurrentStreams = 0, LeaseDuration = TimeSpan.Zero };

        var ex = Assert.Throws<ArgumentException>(() => RecoverableStreamOptionsValidator.ThrowIfInvalid(options));

        Assert.That(options.Validate(), Has.Count.EqualTo(3));
        Assert.That(ex!.Message, Does.Contain("ServiceName").And.Contain("MaxConcurrentStreams").And.Contain("LeaseDuration"));
        Assert.That(ex.ParamName, Is.EqualTo("options"));
    }

    [Test]
    public void A_renew_interval_of_exactly_a_quarter_of_the_lease_is_allowed()
    {
        var options = Valid();
        options.LeaseDuration = TimeSpan.FromSeconds(4);
        options.RenewInterval = TimeSpan.FromSeconds(1);

        Assert.That(options.Validate(), Is.Empty);
    }

    [Test]
    public void An_lbs_key_with_a_hash_tag_is_allowed()
    {
        var options = Valid();
        options.LbsStreamKey = "{orders}-input";

        Assert.That(options.Validate(), Is.Empty);
    }
}
