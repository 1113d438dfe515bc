//! What a step on a bulk message (`CreateMultiple`, `UpdateMultiple`, `UpsertMultiple`) reads and changes: its
//! `Targets` and their images, as `IPluginExecutionContext4` gives them.

use std::collections::BTreeMap;

use xrm_model::{Entity, EntityCollection, Fault, ParameterValue, messages};

use crate::context::PluginContext;
use crate::convert::from_wit;

impl PluginContext<'_> {
    /// The `Targets` input parameter of a bulk message: the records it writes, all of one table.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// for target in context.targets().map(|t| t.entities).unwrap_or_default() {
    ///     let name = target.get("name");
    /// #   let _ = name;
    /// }
    /// # }
    /// ```
    pub fn targets(&self) -> Option<EntityCollection> {
        match self.input_parameter(messages::TARGETS)? {
            ParameterValue::EntityCollection(targets) => Some(targets),
            _ => None,
        }
    }

    /// Replaces the `Targets` input parameter; in PreValidation and PreOperation the operation writes them.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::{PluginContext, PluginError};
    /// # fn f(context: &PluginContext) -> Result<(), PluginError> {
    /// if let Some(mut targets) = context.targets() {
    ///     for target in &mut targets.entities {
    ///         target.set("description", "checked in bulk");
    ///     }
    ///     context.set_targets(targets)?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn set_targets(&self, targets: EntityCollection) -> Result<(), Fault> {
        self.set_input_parameter(messages::TARGETS, ParameterValue::EntityCollection(targets))
    }

    /// `PreEntityImagesCollection`: for a step on a bulk message, each target's pre-images by alias, in the order
    /// of [`targets`](Self::targets); empty for a step on any other message.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let targets = context.targets().map(|t| t.entities).unwrap_or_default();
    /// for (target, images) in targets.iter().zip(context.pre_entity_images_collection()) {
    ///     let before = images.get("pre").and_then(|image| image.get("name").cloned());
    /// #   let _ = (target, before);
    /// }
    /// # }
    /// ```
    pub fn pre_entity_images_collection(&self) -> Vec<BTreeMap<String, Entity>> {
        self.raw().pre_entity_images_collection().into_iter().map(from_wit::images).collect()
    }

    /// `PostEntityImagesCollection`: for a step on a bulk message at PostOperation, each target's post-images by
    /// alias, in the order of [`targets`](Self::targets).
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let created = context.post_entity_images_collection().len();
    /// # let _ = created; }
    /// ```
    pub fn post_entity_images_collection(&self) -> Vec<BTreeMap<String, Entity>> {
        self.raw().post_entity_images_collection().into_iter().map(from_wit::images).collect()
    }
}
